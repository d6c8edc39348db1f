//! Fuzzes the ISO index with arbitrary images: it must return an error or an index whose every
//! extent lies inside the image — never panic, hang or over-allocate.
#![no_main]

use controlplane::iso::IsoIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Images are at least 17 sectors; pad short inputs so the fuzzer reaches the tree code
    // rather than stopping at "too short" every time.
    let mut image = data.to_vec();
    if image.len() < 40 * 2048 {
        image.resize(40 * 2048, 0);
    }
    if let Ok(index) = IsoIndex::read(&image) {
        for entry in &index.entries {
            for extent in &entry.extents {
                assert!(extent.offset.checked_add(extent.len).is_some_and(|end| end <= image.len() as u64));
            }
        }
    }
});
