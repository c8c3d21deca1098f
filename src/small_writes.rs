//! Writes in small pieces, for every writer of large files.

/// The largest write(2) that compose's big writers (the image exporters, the records, the sources
/// bundle) make. The kernel sizes new page-cache folios by the write: a 1 MiB write asks for high-order
/// folios, which on a VM that hands free memory back to its host are the cold ones (each page faults on
/// the host as it is first filled). 16 KiB writes take small, recently freed
/// folios: on benchmark (c) the tar export took 0.55-0.60 s with 16 KiB writes, 1.3-1.7 s with 1 MiB.
pub const WRITE_PIECE: usize = 16 << 10;

/// A writer that passes at most `WRITE_PIECE` bytes to `W` per call; put it under a `BufWriter`, whose
/// flush then writes its buffer in pieces.
pub struct SmallWrites<W>(pub W);

impl<W: std::io::Write> std::io::Write for SmallWrites<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(&buf[..buf.len().min(WRITE_PIECE)])
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Records the size of every write it is given.
    struct Sizes(Vec<usize>, Vec<u8>);

    impl Write for Sizes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.len());
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_buffered_writer_above_it_writes_in_pieces_and_loses_nothing() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, SmallWrites(Sizes(Vec::new(), Vec::new())));
        w.write_all(&data[..100]).unwrap();
        w.write_all(&data[100..]).unwrap(); // larger than the buffer: passed straight down
        let SmallWrites(Sizes(sizes, written)) = w.into_inner().map_err(|e| e.into_error()).unwrap();
        assert!(written == data);
        assert!(sizes.iter().all(|&n| n <= WRITE_PIECE), "{sizes:?}");
        assert_eq!(sizes.len(), 1 + (data.len() - 100).div_ceil(WRITE_PIECE), "the first 100 bytes, then pieces");
    }
}
