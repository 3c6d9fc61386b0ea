//! Identifiers shaped like Alpaca's (UUIDs), made deterministically by the fake.

/// The `n`-th id of kind `tag` (orders, executions, …), as a version-4-shaped UUID.
pub(super) fn uuid(tag: u32, n: u64) -> String {
    format!("{tag:08x}-0000-4000-8000-{n:012x}")
}

/// The asset id of `symbol` (stable: the same symbol always gets the same id).
pub(super) fn asset_id(symbol: &str) -> String {
    // FNV-1a: a fixed, dependency-free hash so ids do not change between runs.
    let hash = symbol
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    uuid(0xa55e_7000, hash & 0xffff_ffff_ffff)
}

/// Id kinds, the first group of the UUIDs the fake makes.
pub(super) const ORDER: u32 = 0x0dde_0000;
/// Executions (`execution_id` of fills).
pub(super) const EXECUTION: u32 = 0xe8ec_0000;
/// Client order ids the fake makes up when a request has none.
pub(super) const CLIENT_ORDER: u32 = 0xc11e_0000;
