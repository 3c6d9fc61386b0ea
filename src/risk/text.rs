//! Names and amounts in the words the risk rules write (denial messages, halt reasons), spelled
//! as the report prints them, so a trader reads one spelling everywhere.

use rust_decimal::Decimal;

/// An instrument name for text: an option's OCC symbol (padded `SPY   131019P00168000`, or
/// compact as a broker lists it) as `SPY 131019P00168000`; any other name as it is.
pub fn instrument(name: &str) -> String {
    let compact: String = name.split_whitespace().collect();
    let Some(split) = compact.len().checked_sub(15).filter(|&n| n > 0) else { return name.to_owned() };
    let Some(tail) = compact.get(split..) else { return name.to_owned() };
    let b = tail.as_bytes();
    let occ = b[..6].iter().chain(&b[7..]).all(u8::is_ascii_digit) && matches!(b[6], b'C' | b'P');
    if occ { format!("{} {tail}", &compact[..split]) } else { name.to_owned() }
}

/// An amount of money for a message: rounded to the cent, always with two decimals
/// (`50000.00`, `1007.50`).
pub fn money(x: Decimal) -> String {
    let mut x = x.round_dp(2);
    x.rescale(2);
    x.to_string()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn money_has_cents() {
        assert_eq!(money(dec!(50000)), "50000.00");
        assert_eq!(money(dec!(1007.5)), "1007.50");
        assert_eq!(money(dec!(-12.345)), "-12.34");
        assert_eq!(money(dec!(0.005)), "0.00");
    }
}
