//! Logarithm, exponential and power from IEEE arithmetic alone, so that random streams do
//! not depend on the platform's math library (whose last bits may differ between machines).

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm of `x` > 0 (relative error below 1e-15); `-inf` at 0.
pub fn ln(x: f64) -> f64 {
    if x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if !x.is_finite() {
        return x;
    }
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2)).
    let bits = x.to_bits();
    let mut e = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0) - 1023;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if e == -1023 {
        // Subnormal: scale up first.
        return ln(x * (1u64 << 52) as f64) - 52.0 * LN2;
    }
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172.
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * LN2
}

/// `e^x` (relative error below 1e-15 for |x| < 700).
pub fn exp(x: f64) -> f64 {
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // x = k ln2 + r, |r| <= ln2 / 2.
    #[allow(clippy::cast_possible_truncation)]
    let k = (x / LN2).round() as i32;
    let r = x - f64::from(k) * LN2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..30 {
        term *= r / f64::from(n);
        sum += term;
    }
    sum * pow2(k)
}

fn pow2(k: i32) -> f64 {
    let mut v = 1.0;
    let step = if k >= 0 { 2.0 } else { 0.5 };
    for _ in 0..k.unsigned_abs() {
        v *= step;
    }
    v
}

/// `x^y` for `x` > 0.
pub fn pow(x: f64, y: f64) -> f64 {
    exp(y * ln(x))
}

#[cfg(test)]
mod tests {
    #[test]
    fn detmath_agrees_with_the_platform_closely() {
        for x in [
            1e-300, 1e-10, 0.001, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300,
        ] {
            let (ours, std) = (super::ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 1e-14 * std.abs().max(1.0),
                "ln {x}: {ours} vs {std}"
            );
        }
        for x in [-700.0, -10.0, -1.0, 0.0, 0.3, 1.0, 5.0, 100.0, 700.0] {
            let (ours, std) = (super::exp(x), x.exp());
            assert!(
                (ours - std).abs() <= 1e-13 * std,
                "exp {x}: {ours} vs {std}"
            );
        }
        assert!((super::pow(64.0, -1.1) - 64f64.powf(-1.1)).abs() < 1e-15);
    }
}
