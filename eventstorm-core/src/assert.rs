//! Compile-time checks of the threading rules, shared by the crates.

/// Fails to compile when one of the types is `Sync`: types that own a
/// ZeroMQ socket may move between threads, never be shared. (A type with
/// two blanket impls of one trait, the second only for `Sync` types, makes
/// naming the impl ambiguous for a `Sync` type.)
#[doc(hidden)]
#[macro_export]
macro_rules! assert_not_sync {
    ($($ty:ty),+ $(,)?) => {
        const _: () = {
            trait NotSync<A> {
                const OK: () = ();
            }
            impl<T: ?Sized> NotSync<()> for T {}
            #[allow(dead_code)]
            struct IsSync;
            impl<T: ?Sized + Sync> NotSync<IsSync> for T {}
            $( let () = <$ty as NotSync<_>>::OK; )+
        };
    };
}

/// Fails to compile when one of the types is not `Send`.
#[doc(hidden)]
#[macro_export]
macro_rules! assert_send {
    ($($ty:ty),+ $(,)?) => {
        const _: () = {
            const fn send<T: Send>() {}
            $( send::<$ty>(); )+
        };
    };
}

/// Fails to compile when one of the types is not `Send + Sync`.
#[doc(hidden)]
#[macro_export]
macro_rules! assert_send_sync {
    ($($ty:ty),+ $(,)?) => {
        const _: () = {
            const fn send_sync<T: Send + Sync>() {}
            $( send_sync::<$ty>(); )+
        };
    };
}
