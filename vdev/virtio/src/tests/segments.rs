//! `SegmentCursor`: a backend's walk over a request's segments in chunks.

use proptest::prelude::*;

use crate::{BackendError, Segment, SegmentCursor};

/// Every piece of one `pieces` call: (address, offset, length).
fn walk(cursor: &mut SegmentCursor<'_>, bytes: usize) -> Result<Vec<(u64, usize, usize)>, BackendError> {
    let mut pieces = Vec::new();
    cursor.pieces(bytes, |address, offset, length| {
        pieces.push((address, offset, length));
        Ok(())
    })?;
    Ok(pieces)
}

#[test]
fn chunks_split_segments_and_never_span_two() {
    let segments = [Segment { address: 0x1000, length: 1024 }, Segment { address: 0x3000, length: 512 }, Segment { address: 0x5000, length: 2048 }];
    let mut cursor = SegmentCursor::new(&segments);
    assert_eq!(walk(&mut cursor, 1536), Ok(vec![(0x1000, 0, 1024), (0x3000, 1024, 512)]));
    assert_eq!(walk(&mut cursor, 1536), Ok(vec![(0x5000, 0, 1536)]));
    assert_eq!(walk(&mut cursor, 512), Ok(vec![(0x5000 + 1536, 0, 512)]));
    assert_eq!(walk(&mut cursor, 512), Err(BackendError::Io), "past the end");
}

#[test]
fn an_empty_segment_fails_instead_of_looping() {
    let segments = [Segment { address: 0x1000, length: 512 }, Segment { address: 0x2000, length: 0 }];
    let mut cursor = SegmentCursor::new(&segments);
    assert_eq!(walk(&mut cursor, 1024), Err(BackendError::Io));
}

#[test]
fn the_callers_error_stops_the_walk() {
    let segments = [Segment { address: 0x1000, length: 512 }, Segment { address: 0x2000, length: 512 }];
    let mut cursor = SegmentCursor::new(&segments);
    let mut calls = 0;
    let result = cursor.pieces(1024, |_, _, _| {
        calls += 1;
        Err(BackendError::ReadOnly)
    });
    assert_eq!((result, calls), (Err(BackendError::ReadOnly), 1));
}

proptest! {
    #[test]
    fn chunked_walks_cover_every_byte_once_in_order(
        lengths in proptest::collection::vec(1u32..5000, 1..20),
        chunk in 1usize..9000,
    ) {
        let mut address = 0x4000_0000u64;
        let segments: Vec<Segment> = lengths
            .iter()
            .map(|&length| {
                let segment = Segment { address, length };
                address += u64::from(length) + 4096;
                segment
            })
            .collect();
        let total: usize = lengths.iter().map(|&length| length as usize).sum();
        let mut cursor = SegmentCursor::new(&segments);
        // Where each byte of the request must be, in order.
        let expected: Vec<u64> = segments
            .iter()
            .flat_map(|segment| segment.address..segment.end())
            .collect();
        let mut seen = Vec::with_capacity(total);
        let mut done = 0;
        while done < total {
            let bytes = (total - done).min(chunk);
            let pieces = walk(&mut cursor, bytes).unwrap();
            let mut offset = 0;
            for (piece_address, piece_offset, length) in pieces {
                prop_assert_eq!(piece_offset, offset);
                prop_assert!(length > 0);
                prop_assert!(segments.iter().any(|segment| piece_address >= segment.address
                    && piece_address + length as u64 <= segment.end()), "a piece spans two segments");
                seen.extend(piece_address..piece_address + length as u64);
                offset += length;
            }
            prop_assert_eq!(offset, bytes);
            done += bytes;
        }
        prop_assert_eq!(seen, expected);
        prop_assert_eq!(walk(&mut cursor, 1), Err(BackendError::Io));
    }
}
