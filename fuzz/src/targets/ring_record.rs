//! Ring records read from host memory, which a hostile guest (or a hostile agent) writes: the
//! first byte picks the record type, the rest are its bytes.

use std::fmt::Debug;

use nic_abi::desc::{
    CopyCommand, CopyCompletion, DescError, MissRecord, ReleaseCommand, RxCompletion, RxDescriptor,
    TxCompletion, TxDescriptor,
};

/// Decodes the record; one that decodes must encode to bytes that decode to it again.
fn round_trip<R, const N: usize>(bytes: &[u8], to_bytes: impl Fn(&R) -> [u8; N])
where
    R: for<'a> TryFrom<&'a [u8], Error = DescError> + PartialEq + Debug,
{
    match R::try_from(bytes) {
        Ok(record) => {
            let image = to_bytes(&record);
            let again = R::try_from(&image[..]);
            assert_eq!(
                again.as_ref(),
                Ok(&record),
                "a decoded record's own image does not decode to it"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an empty error message"),
    }
}

/// Feeds the record.
pub fn run(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 8 {
        0 => round_trip::<TxDescriptor, { TxDescriptor::SIZE }>(bytes, TxDescriptor::to_bytes),
        1 => round_trip::<RxDescriptor, { RxDescriptor::SIZE }>(bytes, RxDescriptor::to_bytes),
        2 => round_trip::<TxCompletion, { TxCompletion::SIZE }>(bytes, TxCompletion::to_bytes),
        3 => round_trip::<RxCompletion, { RxCompletion::SIZE }>(bytes, RxCompletion::to_bytes),
        4 => {
            round_trip::<MissRecord, { MissRecord::SIZE }>(bytes, MissRecord::to_bytes);
            if let Ok(record) = MissRecord::try_from(bytes) {
                // The key and header bytes of a record that decoded are readable.
                let _ = record.flow_key();
                let _ = record.header_bytes();
            }
        }
        5 => round_trip::<CopyCommand, { CopyCommand::SIZE }>(bytes, CopyCommand::to_bytes),
        6 => {
            round_trip::<CopyCompletion, { CopyCompletion::SIZE }>(bytes, CopyCompletion::to_bytes)
        }
        _ => {
            round_trip::<ReleaseCommand, { ReleaseCommand::SIZE }>(bytes, ReleaseCommand::to_bytes)
        }
    }
}
