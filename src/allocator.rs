//! The process's allocator: jemalloc, for Rust and, on Linux, for the C libraries too
//! (OpenSSL, SQLite, librdkafka), since it replaces `malloc` itself there.
//!
//! Why not glibc's malloc: a node's work moves between threads (tokio's workers, rayon's
//! verifiers, SQLite's connection threads), so memory is often freed on another thread
//! than the one that took it. glibc's malloc then takes the other arena's lock, and with
//! its arenas limited to two (as they had to be, for memory) a third of the kernel time of
//! `bench ledger` was threads waking each other over those locks, and OpenSSL's own
//! allocations inside every signature check waited on them too. jemalloc's per-thread
//! caches take and return memory without a lock in the common case.
//!
//! Memory, for the node's 256 MB and clearing's 512 MB (issues 10 and 13): two arenas, as
//! glibc had, so memory freed by one thread is reused by the others; freed pages go back to
//! the kernel within half a second (`dirty_decay_ms:500`), in full (`muzzy_decay_ms:0`), by
//! jemalloc's background thread even while the process is idle; and each thread caches only
//! allocations up to 1 KiB (`tcache_max:1024`). Purging at once (`dirty_decay_ms:0`) saves
//! about another 20 MB and costs three times the system time in page faults, which takes
//! the speed away. BENCHMARKS.md ("Session twenty-four") has the measurements behind each
//! choice.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, in its own syntax; read once, when it first allocates.
#[cfg(target_os = "linux")]
const OPTIONS: &std::ffi::CStr =
    c"narenas:2,background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0,tcache_max:1024";

/// A pointer to a C string that never changes, so it may be shared between threads.
#[cfg(target_os = "linux")]
#[repr(transparent)]
pub struct Options(*const std::ffi::c_char);

// SAFETY: the pointer is to a `'static` C string, never written.
#[cfg(target_os = "linux")]
unsafe impl Sync for Options {}

/// jemalloc looks for a global `const char *malloc_conf` (its own definition is weak), so
/// the options apply before the first allocation, with no environment variable. A
/// `MALLOC_CONF` in the environment still overrides them, for measurements.
#[cfg(target_os = "linux")]
#[unsafe(export_name = "malloc_conf")]
pub static MALLOC_CONF: Options = Options(OPTIONS.as_ptr());

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::ffi::{CStr, c_void};

    use tikv_jemalloc_sys::mallctl;

    /// Reads one of jemalloc's options (`T` is its C type): what it runs with.
    fn option<T: Copy>(name: &CStr, init: T) -> T {
        let mut value = init;
        let mut len = std::mem::size_of::<T>();
        // SAFETY: each caller names an option of type `T`; `value` and `len` describe its
        // buffer, and jemalloc refuses a length that is not the option's.
        let rc = unsafe {
            mallctl(
                name.as_ptr(),
                (&raw mut value).cast::<c_void>(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(rc, 0, "reading {name:?}");
        value
    }

    #[test]
    fn jemalloc_runs_with_the_options_set_here() {
        if std::env::var_os("MALLOC_CONF").is_some() {
            return; // the environment overrides them on purpose
        }
        assert_eq!(option::<u32>(c"opt.narenas", 0), 2);
        assert!(option::<bool>(c"opt.background_thread", false));
        assert_eq!(option::<isize>(c"opt.dirty_decay_ms", -2), 500);
        assert_eq!(option::<isize>(c"opt.muzzy_decay_ms", -2), 0);
        assert_eq!(option::<usize>(c"opt.tcache_max", 0), 1024);
    }

    /// Whether jemalloc knows `ptr` as one of its allocations (`arenas.lookup` refuses any
    /// other pointer with `EINVAL`).
    fn jemalloc_owns(ptr: *mut c_void) -> bool {
        let mut arena: u32 = 0;
        let mut len = std::mem::size_of::<u32>();
        let mut ptr = ptr;
        // SAFETY: `arenas.lookup` reads a `void *` and writes an `unsigned`; both buffers
        // are what they say.
        let rc = unsafe {
            mallctl(
                c"arenas.lookup".as_ptr(),
                (&raw mut arena).cast::<c_void>(),
                &mut len,
                (&raw mut ptr).cast::<c_void>(),
                std::mem::size_of::<*mut c_void>(),
            )
        };
        rc == 0
    }

    #[test]
    fn the_c_libraries_allocate_from_jemalloc_too() {
        // SAFETY: a plain malloc/free pair of libc's symbols, as OpenSSL and SQLite call them.
        unsafe {
            let p = libc::malloc(4096);
            assert!(!p.is_null());
            let owned = jemalloc_owns(p);
            libc::free(p);
            assert!(owned, "libc's malloc did not go through jemalloc");
        }
        let boxed = Box::new([0u8; 64]);
        let ptr = Box::into_raw(boxed);
        let owned = jemalloc_owns(ptr.cast());
        // SAFETY: `ptr` came from `Box::into_raw` just above.
        drop(unsafe { Box::from_raw(ptr) });
        assert!(owned, "Rust's allocations do not go through jemalloc");
        let mut local = 0u8;
        assert!(
            !jemalloc_owns((&raw mut local).cast()),
            "a stack address is not jemalloc's"
        );
    }
}
