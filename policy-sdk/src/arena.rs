//! The global allocator of policy modules on `wasm32-unknown-unknown`.
//!
//! Every evaluation runs in a fresh instance, so a bump allocator over a
//! static buffer serves a whole decision without `memory.grow` (which costs
//! the host two `mprotect` calls and a TLB shootdown per instance). Freeing
//! the most recent allocation and growing it in place are supported, which
//! covers the `Vec`/`String` doubling that JSON parsing and printing do.
//! Requests larger than the arena fall back to fresh pages from
//! `memory.grow`.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, UnsafeCell};

/// Bytes served without growing memory: a typical decision (request parse,
/// evaluation, response) needs well under half of this.
const ARENA_BYTES: usize = 64 * 1024;
/// Wasm page size.
const PAGE_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_BYTES]>,
    /// Next free address in the current region.
    next: Cell<usize>,
    /// End of the current region (0 until first use).
    end: Cell<usize>,
}

// SAFETY: wasm32-unknown-unknown policies are single-threaded.
unsafe impl Sync for Arena {}

#[global_allocator]
static ARENA: Arena = Arena {
    bytes: UnsafeCell::new([0; ARENA_BYTES]),
    next: Cell::new(0),
    end: Cell::new(0),
};

impl Arena {
    fn ensure_started(&self) {
        if self.end.get() == 0 {
            let start = self.bytes.get() as usize;
            self.next.set(start);
            self.end.set(start + ARENA_BYTES);
        }
    }

    /// Starts a new region of fresh pages large enough for `layout`.
    fn grow_for(&self, layout: Layout) -> bool {
        let needed = layout.size() + layout.align();
        let pages = needed.div_ceil(PAGE_BYTES);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return false;
        }
        let start = previous * PAGE_BYTES;
        self.next.set(start);
        self.end.set(start + pages * PAGE_BYTES);
        true
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.next.get().checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > self.end.get() {
            return None;
        }
        self.next.set(end);
        Some(start as *mut u8)
    }
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.ensure_started();
        if let Some(ptr) = self.bump(layout) {
            return ptr;
        }
        if self.grow_for(layout) {
            self.bump(layout).unwrap_or(std::ptr::null_mut())
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        let is_last = start + layout.size() == self.next.get();
        if is_last && start + new_size <= self.end.get() {
            self.next.set(start + new_size);
            return ptr;
        }
        // SAFETY: `layout.align()` is a valid alignment and `new_size` is
        // non-zero, as `realloc`'s contract requires.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarding to our own `alloc`.
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both regions are valid for the smaller of the sizes and
            // do not overlap (the new one lies past the old one).
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            }
        }
        new_ptr
    }
}
