//! Safe wrapper of the `pkt_parser` RTL model (`rtl/pkt_parser.sv`): frames in as 8-byte
//! beats, packed flow keys out.
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;
use std::path::Path;

use nic_abi::key::{KeyWords, PortNo};
use nic_abi::parse::HEADER_WINDOW_BYTES;

use crate::{ffi, RtlError};

/// Bytes per bus beat of the verilated build (nic-abi's parser bus).
pub const BEAT_BYTES: usize = nic_abi::parse::PARSER_BEAT_BYTES;

/// Cycles from the beat that completes a frame's header window (or ends the frame) to the
/// first cycle its key is valid (nic-abi's, which nic-model uses too).
pub const PARSE_LATENCY_CYCLES: u64 = nic_abi::parse::PARSER_LATENCY_CYCLES as u64;

/// 32-bit words of one beat.
const BEAT_WORDS: usize = BEAT_BYTES / 4;

/// Inputs of one cycle, laid out as `PpInputs` in `csrc/pkt_parser_shim.cpp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PpInputs {
    tdata: [u32; BEAT_WORDS],
    frame_len: u32,
    in_port: u16,
    tvalid: u8,
    tfirst: u8,
    tlast: u8,
    key_ready: u8,
    pad: [u8; 2],
}

/// Outputs after one cycle, laid out as `PpOutputs` in `csrc/pkt_parser_shim.cpp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PpOutputs {
    key: KeyWords,
    protocol_errors: u32,
    tready: u8,
    key_valid: u8,
    pad: [u8; 2],
}

/// One beat of a frame on the parser's input bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    /// Up to [`BEAT_BYTES`] bytes, byte 0 first (bytes past the frame are ignored).
    pub data: [u8; BEAT_BYTES],
    /// First beat of a frame.
    pub first: bool,
    /// Last beat of a frame.
    pub last: bool,
    /// The whole frame's length (read with the first beat).
    pub frame_len: u32,
    /// The port the frame entered on (read with the first beat).
    pub in_port: PortNo,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserCycle {
    /// The presented beat was taken at this edge.
    pub beat_accepted: bool,
    /// The key register after the edge, if valid.
    pub key: Option<KeyWords>,
    /// Framing protocol errors counted so far.
    pub protocol_errors: u32,
}

/// The beats the card streams for `frame`: its header window (the parser reads no further),
/// the last of them marked `last`. Fails for frames longer than the 32-bit length field.
pub fn window_beats(frame: &[u8], in_port: PortNo) -> Result<Vec<Beat>, RtlError> {
    let frame_len = u32::try_from(frame.len()).map_err(|_| RtlError::FrameTooLong(frame.len()))?;
    let window = &frame[..frame.len().min(HEADER_WINDOW_BYTES)];
    let chunks: Vec<&[u8]> = if window.is_empty() {
        vec![&[]]
    } else {
        window.chunks(BEAT_BYTES).collect()
    };
    let count = chunks.len();
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut data = [0u8; BEAT_BYTES];
            data[..chunk.len()].copy_from_slice(chunk);
            Beat {
                data,
                first: i == 0,
                last: i + 1 == count,
                frame_len,
                in_port,
            }
        })
        .collect())
}

/// The verilated `pkt_parser`, in its own Verilator context. Not `Send`.
#[derive(Debug)]
pub struct PacketParserRtl {
    handle: NonNull<c_void>,
    _not_send: PhantomData<*const ()>,
}

impl PacketParserRtl {
    /// A new parser, reset for two cycles. With `vcd`, every half cycle is dumped there.
    pub fn new(vcd: Option<&Path>) -> Result<PacketParserRtl, RtlError> {
        let path = crate::vcd_path_cstring(vcd)?;
        let ptr = path
            .as_ref()
            .map_or(core::ptr::null(), |p: &CString| p.as_ptr());
        // SAFETY: `ptr` is null or a NUL-terminated string alive for the call; the shim opens
        // the file during the call and keeps no pointer to the string.
        let raw = unsafe { ffi::snich_pp_new(ptr) };
        let handle = NonNull::new(raw).ok_or(RtlError::ModelAllocation("pkt_parser"))?;
        let mut parser = PacketParserRtl {
            handle,
            _not_send: PhantomData,
        };
        for _ in 0..2 {
            parser.raw_step(&PpInputs::default(), true);
        }
        Ok(parser)
    }

    /// Clock cycles simulated so far, reset included.
    pub fn cycles(&self) -> u64 {
        // SAFETY: the handle is live (owned by self).
        unsafe { ffi::snich_pp_cycles(self.handle.as_ptr()) }
    }

    fn raw_step(&mut self, inputs: &PpInputs, rst: bool) -> PpOutputs {
        let mut out = PpOutputs::default();
        // SAFETY: the handle is live; both pointers point to live `#[repr(C)]` values whose
        // layout the size test checks against the C++ structs; the shim keeps neither.
        unsafe { ffi::snich_pp_step(self.handle.as_ptr(), inputs, &mut out, u8::from(rst)) };
        out
    }

    /// One clock cycle: presents `beat` (or nothing) and the key consumer's readiness.
    pub fn step(&mut self, beat: Option<&Beat>, key_ready: bool) -> ParserCycle {
        let mut inputs = PpInputs {
            key_ready: u8::from(key_ready),
            ..Default::default()
        };
        if let Some(b) = beat {
            inputs.tvalid = 1;
            for (word, bytes) in inputs.tdata.iter_mut().zip(b.data.chunks_exact(4)) {
                *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
            inputs.tfirst = u8::from(b.first);
            inputs.tlast = u8::from(b.last);
            inputs.frame_len = b.frame_len;
            inputs.in_port = b.in_port.0;
        }
        let out = self.raw_step(&inputs, false);
        ParserCycle {
            beat_accepted: beat.is_some() && out.tready != 0,
            key: (out.key_valid != 0).then_some(out.key),
            protocol_errors: out.protocol_errors,
        }
    }

    /// Parses one frame on an otherwise idle parser: streams its header window and waits for
    /// the key. Returns the key and the latency in cycles from the last beat to the first
    /// cycle the key is valid.
    pub fn parse(&mut self, frame: &[u8], in_port: PortNo) -> Result<(KeyWords, u64), RtlError> {
        let beats = window_beats(frame, in_port)?;
        let mut last_beat_cycle = 0u64;
        for (i, beat) in beats.iter().enumerate() {
            let c = self.step(Some(beat), true);
            if !c.beat_accepted {
                return Err(RtlError::Stalled {
                    what: "pkt_parser input",
                    beat: i,
                });
            }
            last_beat_cycle = self.cycles();
            if let Some(key) = c.key {
                // A key from an earlier frame would mean the parser was not idle.
                return Err(RtlError::UnexpectedKey(Box::new(key)));
            }
        }
        for _ in 0..PARSE_LATENCY_CYCLES + 4 {
            if let Some(key) = self.step(None, true).key {
                // Outputs after step `c` are valid during cycle `c + 1`.
                return Ok((key, self.cycles() + 1 - last_beat_cycle));
            }
        }
        Err(RtlError::Timeout {
            what: "pkt_parser key",
            cycles: PARSE_LATENCY_CYCLES + 4,
        })
    }
}

impl Drop for PacketParserRtl {
    fn drop(&mut self) {
        // SAFETY: the handle came from snich_pp_new and is freed exactly once, here.
        unsafe { ffi::snich_pp_free(self.handle.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_layouts_match() {
        let (mut c_in, mut c_out) = (0u32, 0u32);
        // SAFETY: the function only writes the two u32s it is given.
        unsafe { ffi::snich_pp_layout(&mut c_in, &mut c_out) };
        assert_eq!(c_in as usize, core::mem::size_of::<PpInputs>());
        assert_eq!(c_out as usize, core::mem::size_of::<PpOutputs>());
    }

    #[test]
    fn window_beats_cover_the_header_window() {
        let frame: Vec<u8> = (0..200u8).collect();
        let beats = window_beats(&frame, PortNo(1)).expect("short frame");
        assert_eq!(beats.len(), HEADER_WINDOW_BYTES / BEAT_BYTES);
        assert!(beats[0].first && beats[beats.len() - 1].last);
        assert_eq!(usize::from(beats[1].data[0]), BEAT_BYTES);
        assert_eq!(window_beats(&[], PortNo(1)).expect("empty").len(), 1);
    }
}
