//! The plugin's memory allocator (on by default: feature `bump-allocator`).
//!
//! The hub runs every decision in a fresh instance that is thrown away afterwards, so nothing a
//! plugin allocates outlives one call. A bump allocator fits that exactly: it hands out memory
//! from the end of the static data upwards and never looks back (freeing the newest block, or
//! growing it, happens in place). Compared with Rust's default allocator for wasm it touches
//! fewer pages and does not grow the memory while the initial memory lasts; every page a
//! decision touches, and every `memory.grow`, is work for the host's kernel when the instance is
//! reset, which is most of a decision's cost.
//!
//! A plugin that allocates and frees a lot in one decision uses more memory than it would with
//! a free-list allocator; the hub's memory limit (16 MiB by default) still applies, and running
//! out is a deny. To use another allocator, turn the feature off:
//! `porchlight-sdk = { …, default-features = false }`.

#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;

const PAGE: usize = 64 * 1024;

/// Hands out memory upwards from the heap base; see the module docs.
#[derive(Debug)]
pub struct BumpAllocator {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a wasm32-unknown-unknown plugin has one thread.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    pub const fn new() -> Self {
        Self { next: Cell::new(0), end: Cell::new(0) }
    }

    fn start(&self) {
        unsafe extern "C" {
            static __heap_base: u8;
        }
        // Only the address of the linker's symbol is taken.
        let base = core::ptr::addr_of!(__heap_base) as usize;
        self.next.set(base);
        self.end.set(core::arch::wasm32::memory_size(0) * PAGE);
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.next.get() == 0 {
            self.start();
        }
        let Some(start) = self.next.get().checked_next_multiple_of(layout.align()) else {
            return core::ptr::null_mut();
        };
        let Some(new_next) = start.checked_add(layout.size()) else { return core::ptr::null_mut() };
        if new_next > self.end.get() {
            let pages = (new_next - self.end.get()).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return core::ptr::null_mut();
            }
            self.end.set(self.end.get() + pages * PAGE);
        }
        self.next.set(new_next);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Only the newest block can be given back.
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let at = ptr as usize;
        // The newest block grows or shrinks in place.
        if at + layout.size() == self.next.get() {
            let Some(new_next) = at.checked_add(new_size) else { return core::ptr::null_mut() };
            if new_next <= self.next.get() {
                self.next.set(new_next);
                return ptr;
            }
            let extra = new_next - self.next.get();
            // SAFETY: a byte-aligned block of the extra size directly after the newest one.
            let more = unsafe { self.alloc(Layout::from_size_align_unchecked(extra, 1)) };
            if more as usize == self.next.get() - extra && !more.is_null() {
                return ptr;
            }
            if more.is_null() {
                return core::ptr::null_mut();
            }
            // Not contiguous (cannot happen: nothing else allocates in between); fall through.
        }
        // SAFETY: the caller's contract for `realloc`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}
