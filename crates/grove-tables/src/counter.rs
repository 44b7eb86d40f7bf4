//! Values `update_counter` can add to: the integer types.

use crate::error::TableError;

/// An integer a table can hold as a counter. `update_counter` adds an `i64` increment (negative
/// to count down) and refuses to leave the type's range rather than wrap.
pub trait Counter: Copy + Send + Sync + 'static {
    /// `self + increment`, or `None` if that does not fit.
    fn checked_add_i64(self, increment: i64) -> Option<Self>;
}

/// One `update_counter` step: the counter after adding `increment`, twice (the value to store and
/// the result to return), or `CounterOverflow`.
pub(crate) fn step<V: Counter>(counter: &V, increment: i64) -> Result<(V, V), TableError> {
    let next = counter
        .checked_add_i64(increment)
        .ok_or(TableError::CounterOverflow)?;
    Ok((next, next))
}

macro_rules! signed_counter {
    ($($t:ty),*) => {$(
        impl Counter for $t {
            fn checked_add_i64(self, increment: i64) -> Option<Self> {
                let increment = <$t>::try_from(increment).ok()?;
                self.checked_add(increment)
            }
        }
    )*};
}

macro_rules! unsigned_counter {
    ($($t:ty),*) => {$(
        impl Counter for $t {
            fn checked_add_i64(self, increment: i64) -> Option<Self> {
                let magnitude = <$t>::try_from(increment.unsigned_abs()).ok()?;
                if increment < 0 {
                    self.checked_sub(magnitude)
                } else {
                    self.checked_add(magnitude)
                }
            }
        }
    )*};
}

signed_counter!(i8, i16, i32, i64, i128, isize);
unsigned_counter!(u8, u16, u32, u64, u128, usize);

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn counters_add_within_range_and_refuse_to_wrap() {
        assert_eq!(5u8.checked_add_i64(-5), Some(0));
        assert_eq!(0u8.checked_add_i64(-1), None);
        assert_eq!(250u8.checked_add_i64(300), None);
        assert_eq!(i64::MAX.checked_add_i64(1), None);
        assert_eq!((-3i32).checked_add_i64(10), Some(7));
        assert_eq!(1i8.checked_add_i64(1000), None);
        assert_eq!(u128::MAX.checked_add_i64(0), Some(u128::MAX));
    }
}
