//! The process allocator: the system allocator, except that very large allocations are
//! reserved lazily with `mmap(MAP_NORESERVE)`.
//!
//! Why: the generated `kafka-protocol` decoders call `Vec::with_capacity(n)` with an array
//! count `n` read from the request before checking that `n` elements can follow. A 20-byte
//! frame claiming 2^31 elements asks for hundreds of GiB; the system allocator refuses and
//! Rust aborts the process. A client must never be able to do that. Reserving such a request
//! as untouched address space costs nothing: the decoder fails on the missing bytes after
//! writing at most what the frame holds (frames are bounded by `socket.request.max.bytes`),
//! and the mapping is returned at once. Legitimate large allocations work the same way.
//!
//! With `vm.overcommit_memory=2` (strict accounting) the kernel refuses such mappings and the
//! process aborts as it would without this allocator. The proper fix is a decoder that bounds
//! capacities by the bytes left; until then this keeps client input from killing the broker.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of at least this many bytes are served by `mmap(MAP_NORESERVE)`.
const LAZY_ALLOCATION_BYTES_MIN: usize = 1 << 30;
/// mmap returns page-aligned memory; larger alignments go to the system allocator.
const PAGE_BYTES: usize = 4096;

/// See the module docs.
pub struct StromAlloc;

fn lazy(layout: &Layout) -> bool {
    layout.size() >= LAZY_ALLOCATION_BYTES_MIN && layout.align() <= PAGE_BYTES
}

// SAFETY: every pointer handed out is either from `System` (and returned to it) or from a
// private anonymous mapping of exactly `layout.size()` bytes (and unmapped with that size);
// which one is decided by the layout alone, which the caller passes back unchanged.
unsafe impl GlobalAlloc for StromAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !lazy(&layout) {
            return System.alloc(layout);
        }
        let p = libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p as *mut u8
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if lazy(&layout) {
            libc::munmap(ptr as *mut libc::c_void, layout.size());
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if lazy(&layout) {
            // Fresh anonymous mappings are zero-filled.
            self.alloc(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if !lazy(&layout) && !lazy(&new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_claimed_capacity_does_not_abort() {
        // What a decoder does with a claimed count of 2^31 elements of 100 bytes.
        let layout = Layout::from_size_align(100 << 31, 8).unwrap();
        unsafe {
            let p = StromAlloc.alloc(layout);
            assert!(
                !p.is_null(),
                "lazy mapping refused (vm.overcommit_memory=2?)"
            );
            p.write_bytes(7, 4096);
            assert_eq!(*p.add(4095), 7);
            StromAlloc.dealloc(p, layout);
        }
    }

    #[test]
    fn realloc_across_the_threshold_keeps_contents() {
        unsafe {
            let small = Layout::from_size_align(16, 8).unwrap();
            let p = StromAlloc.alloc(small);
            p.write_bytes(3, 16);
            let q = StromAlloc.realloc(p, small, LAZY_ALLOCATION_BYTES_MIN);
            assert_eq!(*q.add(15), 3);
            let big = Layout::from_size_align(LAZY_ALLOCATION_BYTES_MIN, 8).unwrap();
            let r = StromAlloc.realloc(q, big, 32);
            assert_eq!(*r.add(15), 3);
            StromAlloc.dealloc(r, Layout::from_size_align(32, 8).unwrap());
        }
    }
}
