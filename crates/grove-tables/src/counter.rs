//! Values `update_counter` can add to: the integer types.

use std::any::{Any, TypeId};

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

// The integer types of at most 64 bits: a hashed table of one of them keeps each value as the
// bits of a `u64` in a cell changed in place ([`crate::counters`]). Which type `V` is, is found
// with `Any` (compared type ids, which the compiler folds away), so no `unsafe` is needed to go
// between `V` and its bits, and `Table<K, V>` needs no bound beyond `TableValue`.
macro_rules! small_integers {
    ($($t:ty),*) => {
        /// True if `V` is an integer type of at most 64 bits.
        pub(crate) fn small_integer<V: 'static>() -> bool {
            let id = TypeId::of::<V>();
            false $(|| id == TypeId::of::<$t>())*
        }

        /// `value` as 64 bits (sign-extended), if `V` is an integer type of at most 64 bits.
        #[inline]
        pub(crate) fn to_bits<V: 'static>(value: &V) -> Option<u64> {
            let any = value as &dyn Any;
            $(if let Some(value) = any.downcast_ref::<$t>() {
                return Some(*value as u64);
            })*
            None
        }

        /// The `V` whose bits [`to_bits`] gave, if `V` is an integer type of at most 64 bits.
        #[inline]
        pub(crate) fn from_bits<V: 'static>(bits: u64) -> Option<V> {
            let mut value: Option<V> = None;
            let slot = &mut value as &mut dyn Any;
            $(if let Some(slot) = slot.downcast_mut::<Option<$t>>() {
                // Truncates back exactly what `to_bits` extended.
                *slot = Some(bits as $t);
            } else)* {}
            value
        }
    };
}

small_integers!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
unsigned_counter!(u8, u16, u32, u64, u128, usize);

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn small_integers_go_to_bits_and_back() {
        use super::{from_bits, small_integer, to_bits};
        fn round_trip<V: 'static + Copy + PartialEq + std::fmt::Debug>(value: V) {
            assert!(small_integer::<V>());
            let bits = to_bits(&value).expect("an integer");
            assert_eq!(from_bits::<V>(bits), Some(value));
        }
        round_trip(-1i8);
        round_trip(i16::MIN);
        round_trip(i32::MAX);
        round_trip(i64::MIN);
        round_trip(-5isize);
        round_trip(u8::MAX);
        round_trip(u64::MAX);
        round_trip(7usize);
        assert!(!small_integer::<u128>() && !small_integer::<String>());
        assert_eq!(to_bits(&1u128), None);
        assert_eq!(from_bits::<String>(1), None);
    }

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
