//! Checkpoints in the safetensors format.
//!
//! A file is an 8-byte little-endian header length `n`, `n` bytes of JSON (each tensor's dtype,
//! shape and `[begin, end)` byte range in the data section, plus an optional `__metadata__` map of
//! strings), then the data section. The header is built with the `safetensors` crate's own types,
//! so what we write opens in the `safetensors` Python package (and so in PyTorch).
//!
//! Saving is atomic: the file is written under a temporary name in the target's directory, synced
//! to disk and renamed over the target, so a reader sees the old file or the new one, never a part.
//! On any error the temporary file is removed and the old file is untouched.
//!
//! Loading trusts nothing in the file: the header length, every dtype, shape and offset are checked
//! against the file's real size before any tensor memory is allocated, so a truncated, corrupt or
//! hostile file gives a clear error and never makes us allocate more than the file holds.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::error::{fmt_shape, Error, Result};
use crate::storage::narrow::{bf16, f16, U8};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Device};
use crate::tensor::Tensor;

/// The largest header we read (the `safetensors` crate's limit).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The reserved header key of the string metadata.
const METADATA_KEY: &str = "__metadata__";

// ----- saving -----------------------------------------------------------------------------------

/// Writes `tensors` (name, tensor) and optional string `metadata` to `path` as a safetensors file,
/// atomically. Tensors may be views or live on a GPU; they are written contiguous, as on the CPU.
pub fn save_safetensors(
    tensors: &[(String, Tensor)],
    metadata: Option<&HashMap<String, String>>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let mut prepared = Vec::with_capacity(tensors.len());
    let mut seen = std::collections::HashSet::new();
    for (name, t) in tensors {
        if name == METADATA_KEY {
            return Err(Error::value(format!(
                "'{METADATA_KEY}' is reserved in safetensors files and cannot name a tensor"
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(Error::value(format!(
                "tensor name '{name}' appears twice; names in a checkpoint must be unique"
            )));
        }
        let t = crate::autograd::no_grad(|| -> Result<Tensor> {
            let t = t.detach();
            let t = if t.device() == Device::Cpu {
                t
            } else {
                t.to_device(Device::Cpu)?
            };
            t.contiguous()
        })?;
        prepared.push((name.clone(), t));
    }
    // As the safetensors crate does: widest dtypes first (so every tensor's data is aligned to its
    // element size), then by name.
    prepared.sort_by(|(ln, lt), (rn, rt)| {
        file_dtype(rt.dtype())
            .cmp(&file_dtype(lt.dtype()))
            .then(ln.cmp(rn))
    });
    let mut infos = Vec::with_capacity(prepared.len());
    let mut offset = 0usize;
    for (name, t) in &prepared {
        let bytes = t.numel() * t.dtype().size_in_bytes();
        infos.push((
            name.clone(),
            TensorInfo {
                dtype: file_dtype(t.dtype()),
                shape: t.shape().to_vec(),
                data_offsets: (offset, offset + bytes),
            },
        ));
        offset += bytes;
    }
    let meta = Metadata::new(metadata.cloned(), infos)
        .map_err(|e| Error::runtime(format!("cannot build the safetensors header: {e}")))?;
    let mut header = serde_json::to_string(&meta)
        .map_err(|e| Error::runtime(format!("cannot build the safetensors header: {e}")))?
        .into_bytes();
    // The data section starts 8-byte aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    if header.len() as u64 > MAX_HEADER_BYTES {
        return Err(Error::value(format!(
            "the checkpoint header would take {} bytes, above the safetensors limit of {MAX_HEADER_BYTES}; store less metadata or fewer tensors",
            header.len()
        )));
    }
    write_atomic(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(|e| io_error(e, path))?;
        w.write_all(&header).map_err(|e| io_error(e, path))?;
        for (_, t) in &prepared {
            t.with_cpu(|s, layout| {
                let range = layout
                    .contiguous_range()
                    .ok_or_else(|| Error::internal("tensor not contiguous"))?;
                write_elements(w, s, range).map_err(|e| io_error(e, path))
            })?;
        }
        Ok(())
    })
}

/// The file dtype of one of ours.
fn file_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::Bool => Dtype::BOOL,
    }
}

/// Writes elements `range` of a CPU storage as little-endian bytes.
fn write_elements(
    w: &mut impl Write,
    s: &CpuStorage,
    range: std::ops::Range<usize>,
) -> std::io::Result<()> {
    fn typed<T: LeBytes>(w: &mut impl Write, v: &[T]) -> std::io::Result<()> {
        #[cfg(target_endian = "little")]
        {
            // SAFETY: plain-old-data elements viewed as their bytes, which on a little-endian
            // machine are exactly the file's little-endian encoding.
            let bytes = unsafe {
                std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v))
            };
            w.write_all(bytes)
        }
        #[cfg(not(target_endian = "little"))]
        {
            let mut buf = Vec::with_capacity(1 << 16);
            for chunk in v.chunks(1 << 12) {
                buf.clear();
                for &x in chunk {
                    x.put_le(&mut buf);
                }
                w.write_all(&buf)?;
            }
            Ok(())
        }
    }
    crate::with_dtype!(s.dtype(), T => {
        let v = s.slice::<T>().map_err(std::io::Error::other)?;
        typed(w, &v[range])
    })
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a file atomically: `write` fills a new temporary file in `path`'s directory, which is
/// synced and renamed over `path`. On any error the temporary file is removed and `path` is left
/// as it was.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<()> {
    let name = path.file_name().ok_or_else(|| {
        Error::Io(format!(
            "cannot save to '{}': not a file path",
            path.display()
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        // PyTorch's message for the same mistake.
        return Err(Error::runtime(format!(
            "Parent directory {} does not exist.",
            dir.display()
        )));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}-{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| io_error(e, path))?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        write(&mut w)?;
        w.flush().map_err(|e| io_error(e, path))?;
        drop(w);
        file.sync_all().map_err(|e| io_error(e, path))?;
        fs::rename(&tmp, path).map_err(|e| io_error(e, path))?;
        // Make the rename itself durable; not every platform can sync a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    drop(file);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn io_error(e: std::io::Error, path: &Path) -> Error {
    Error::Io(format!("{e}: '{}'", path.display()))
}

// ----- loading ----------------------------------------------------------------------------------

/// The element types a file may hold and how we load them.
#[derive(Copy, Clone, Debug, PartialEq)]
enum FileType {
    /// Stored as one of ours.
    Native(DType),
    /// Unsigned integers wider than a byte: widened to int64 on load.
    Unsigned { bytes: usize },
}

impl FileType {
    fn parse(name: &str) -> Option<FileType> {
        if let Some(d) = DType::ALL
            .into_iter()
            .find(|d| d.safetensors_name() == name)
        {
            return Some(FileType::Native(d));
        }
        Some(match name {
            "U32" => FileType::Unsigned { bytes: 4 },
            "U16" => FileType::Unsigned { bytes: 2 },
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            FileType::Native(d) => d.size_in_bytes(),
            FileType::Unsigned { bytes } => bytes,
        }
    }
}

const SUPPORTED: &str = "F64, F32, F16, BF16, I64, I32, I16, I8, U32, U16, U8, BOOL";

/// One tensor's entry in a header, checked against itself (not yet against the others).
struct Entry {
    name: String,
    ty: FileType,
    shape: Vec<usize>,
    begin: u64,
    end: u64,
}

/// What a checkpoint holds: named tensors (in file order) and string metadata.
pub type Loaded = (Vec<(String, Tensor)>, HashMap<String, String>);

/// Reads a safetensors file: its tensors in file order, and its string metadata.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    let bad = |msg: String| {
        Error::runtime(format!(
            "invalid safetensors file '{}': {msg}",
            path.display()
        ))
    };
    let file = File::open(path).map_err(|e| io_error(e, path))?;
    let file_len = file.metadata().map_err(|e| io_error(e, path))?.len();
    if file_len < 8 {
        return Err(bad(format!(
            "the file has {file_len} bytes, fewer than the 8-byte header length that starts every safetensors file; it is truncated or not a safetensors file"
        )));
    }
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut len_bytes = [0u8; 8];
    read_exact(&mut r, &mut len_bytes, path, &bad)?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "the header length field says {n} bytes, above the safetensors limit of {MAX_HEADER_BYTES}; the file is corrupt or not a safetensors file"
        )));
    }
    if n > file_len - 8 {
        return Err(bad(format!(
            "the header length field says {n} bytes but only {} bytes follow it; the file is truncated or not a safetensors file",
            file_len - 8
        )));
    }
    let data_len = file_len - 8 - n;
    // n <= file_len and n <= MAX_HEADER_BYTES: this allocation is bounded by what the file holds.
    let mut header = vec![0u8; n as usize];
    read_exact(&mut r, &mut header, path, &bad)?;
    let (mut entries, metadata) = parse_header(&header, data_len).map_err(bad)?;
    drop(header);
    check_layout(&mut entries, data_len).map_err(bad)?;

    // Every entry now lies inside the data section and they tile it exactly, so the tensors below
    // add up to at most the file's size.
    let mut tensors = Vec::with_capacity(entries.len());
    for e in &entries {
        let t = read_tensor(&mut r, e, path, &bad)?;
        tensors.push((e.name.clone(), t));
    }
    Ok((tensors, metadata))
}

fn read_exact(
    r: &mut impl Read,
    buf: &mut [u8],
    path: &Path,
    bad: &dyn Fn(String) -> Error,
) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad("the file ended early (it changed while being read, or is truncated)".into())
        } else {
            io_error(e, path)
        }
    })
}

/// Parses and checks the header JSON: every tensor's dtype, shape and offsets on their own.
/// A parsed header: tensor entries and string metadata.
type Header = (Vec<Entry>, HashMap<String, String>);

fn parse_header(header: &[u8], data_len: u64) -> std::result::Result<Header, String> {
    let text =
        std::str::from_utf8(header).map_err(|e| format!("the header is not valid UTF-8 ({e})"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the header is not valid JSON ({e})"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("the header is not a JSON object".into());
    };
    let mut metadata = HashMap::new();
    let mut entries = Vec::with_capacity(map.len());
    for (name, v) in map {
        if name == METADATA_KEY {
            let serde_json::Value::Object(m) = v else {
                return Err(format!("'{METADATA_KEY}' must be an object of strings"));
            };
            for (k, v) in m {
                let serde_json::Value::String(s) = v else {
                    return Err(format!(
                        "'{METADATA_KEY}' must map strings to strings, but '{k}' holds {v}"
                    ));
                };
                metadata.insert(k, s);
            }
            continue;
        }
        entries.push(parse_entry(name, &v, data_len)?);
    }
    Ok((entries, metadata))
}

fn parse_entry(
    name: String,
    v: &serde_json::Value,
    data_len: u64,
) -> std::result::Result<Entry, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("the entry of tensor '{name}' is not a JSON object"))?;
    let field = |key: &str| {
        obj.get(key)
            .ok_or_else(|| format!("tensor '{name}' has no '{key}'"))
    };
    let dtype_name = field("dtype")?
        .as_str()
        .ok_or_else(|| format!("tensor '{name}': 'dtype' must be a string"))?;
    let ty = FileType::parse(dtype_name).ok_or_else(|| {
        format!("tensor '{name}' has dtype '{dtype_name}', which rustgrad cannot load (supported: {SUPPORTED})")
    })?;
    let shape = field("shape")?
        .as_array()
        .ok_or_else(|| format!("tensor '{name}': 'shape' must be a list of non-negative integers"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            format!("tensor '{name}': 'shape' must be a list of non-negative integers")
        })?;
    let offsets = field("data_offsets")?
        .as_array()
        .filter(|a| a.len() == 2)
        .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
        .ok_or_else(|| {
            format!(
                "tensor '{name}': 'data_offsets' must be two non-negative integers [begin, end]"
            )
        })?;
    let (begin, end) = offsets;
    let numel = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let bytes = numel.and_then(|n| n.checked_mul(ty.size() as u64));
    let Some(bytes) = bytes else {
        return Err(format!(
            "tensor '{name}' has shape {}, whose size in bytes overflows",
            fmt_shape(&shape)
        ));
    };
    if begin > end {
        return Err(format!(
            "tensor '{name}' has data_offsets [{begin}, {end}], which run backwards"
        ));
    }
    if end > data_len {
        return Err(format!(
            "tensor '{name}' has data_offsets [{begin}, {end}], past the end of the data section ({data_len} bytes); the file is truncated or corrupt"
        ));
    }
    if end - begin != bytes {
        return Err(format!(
            "tensor '{name}' of dtype {dtype_name} and shape {} needs {bytes} bytes, but its data_offsets [{begin}, {end}] hold {}",
            fmt_shape(&shape),
            end - begin
        ));
    }
    Ok(Entry {
        name,
        ty,
        shape,
        begin,
        end,
    })
}

/// Sorts the entries by offset and checks that they tile the data section exactly: no overlap,
/// no gap, nothing after the last tensor (the safetensors format's rule).
fn check_layout(entries: &mut [Entry], data_len: u64) -> std::result::Result<(), String> {
    entries.sort_by_key(|e| (e.begin, e.end));
    let mut cursor = 0u64;
    let mut previous: Option<&Entry> = None;
    for e in entries.iter() {
        if e.begin < cursor {
            let p = previous.map(|p| p.name.as_str()).unwrap_or("");
            return Err(format!(
                "tensors '{p}' and '{}' overlap (data_offsets ending at {cursor} and starting at {})",
                e.name, e.begin
            ));
        }
        if e.begin > cursor {
            return Err(format!(
                "bytes {cursor}..{} of the data section belong to no tensor (tensor '{}' starts at {}); the offsets are corrupt",
                e.begin, e.name, e.begin
            ));
        }
        cursor = e.end;
        previous = Some(e);
    }
    if cursor != data_len {
        return Err(format!(
            "the data section has {data_len} bytes but the tensors cover {cursor}; the file is corrupt or has trailing bytes"
        ));
    }
    Ok(())
}

/// Reads one tensor's bytes (the reader is positioned at its start).
fn read_tensor(
    r: &mut impl Read,
    e: &Entry,
    path: &Path,
    bad: &dyn Fn(String) -> Error,
) -> Result<Tensor> {
    let numel: usize = e.shape.iter().product();
    match e.ty {
        FileType::Native(DType::Bool) => {
            let mut buf = read_native::<u8>(r, numel, path, bad)?;
            // Any non-zero byte is true; store it as 1 so every kernel sees 0 or 1.
            for b in buf.as_mut_slice() {
                *b = (*b != 0) as u8;
            }
            Ok(Tensor::from_buffer(buf, &e.shape))
        }
        FileType::Native(d) => Ok(crate::with_dtype!(d, T => {
            Tensor::from_buffer(read_native::<T>(r, numel, path, bad)?, &e.shape)
        })),
        FileType::Unsigned { bytes } => {
            let raw = read_bytes(r, (e.end - e.begin) as usize, path, bad)?;
            let ints = raw.chunks_exact(bytes).map(|c| {
                let mut b = [0u8; 8];
                b[..bytes].copy_from_slice(c);
                u64::from_le_bytes(b) as i64
            });
            let buf = Buffer::<i64>::from_iter_exact(numel, ints)?;
            Ok(Tensor::from_buffer(buf, &e.shape))
        }
    }
}

/// Reads `numel` little-endian elements straight into a new buffer.
fn read_native<T: CpuElement + LeBytes>(
    r: &mut impl Read,
    numel: usize,
    path: &Path,
    bad: &dyn Fn(String) -> Error,
) -> Result<Buffer<T>> {
    let mut buf = Buffer::<T>::zeros(numel)?;
    #[cfg(target_endian = "little")]
    {
        let s = buf.as_mut_slice();
        // SAFETY: plain-old-data elements (any bit pattern is a value) viewed as their bytes; the
        // file's little-endian bytes are their in-memory encoding on this machine.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut u8, std::mem::size_of_val(s))
        };
        read_exact(r, bytes, path, bad)?;
    }
    #[cfg(not(target_endian = "little"))]
    {
        let raw = read_bytes(r, numel * std::mem::size_of::<T>(), path, bad)?;
        for (d, c) in buf
            .as_mut_slice()
            .iter_mut()
            .zip(raw.chunks_exact(std::mem::size_of::<T>()))
        {
            *d = T::from_le(c);
        }
    }
    Ok(buf)
}

fn read_bytes(
    r: &mut impl Read,
    len: usize,
    path: &Path,
    bad: &dyn Fn(String) -> Error,
) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::out_of_memory(len, "CPU"))?;
    v.resize(len, 0);
    read_exact(r, &mut v, path, bad)?;
    Ok(v)
}

/// Little-endian encoding of element types.
// Read and written element by element on big-endian hosts only (little-endian ones copy bytes).
#[cfg_attr(target_endian = "little", allow(dead_code))]
trait LeBytes: Copy {
    fn put_le(self, out: &mut Vec<u8>);
    fn from_le(b: &[u8]) -> Self;
}

macro_rules! le_bytes {
    ($($t:ty),*) => {$(
        impl LeBytes for $t {
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
le_bytes!(f32, f64, i64, u8, i32, i16, i8, f16, bf16);

impl LeBytes for U8 {
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
    fn from_le(b: &[u8]) -> Self {
        U8(b[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rustgrad-serialize-{tag}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn round_trip_every_dtype() {
        let dir = tmpdir("roundtrip");
        let path = dir.join("a.safetensors");
        let f = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0], &[2, 3]).unwrap();
        let d = Tensor::from_slice(&[1e-300f64, 2.0], &[2]).unwrap();
        let i = Tensor::from_slice(&[i64::MIN, -1, i64::MAX], &[3]).unwrap();
        let b = Tensor::from_slice(&[1u8, 0, 1], &[3])
            .unwrap()
            .to_dtype(DType::Bool)
            .unwrap();
        let e = Tensor::zeros(&[0, 4], DType::F32, Device::Cpu).unwrap();
        let s = Tensor::from_slice(&[42.0f64], &[]).unwrap();
        let t = f.transpose(0, 1).unwrap(); // a non-contiguous view
        let tensors = vec![
            ("f".to_string(), f.clone()),
            ("d".to_string(), d.clone()),
            ("i".to_string(), i.clone()),
            ("b".to_string(), b.clone()),
            ("e".to_string(), e.clone()),
            ("s".to_string(), s.clone()),
            ("t".to_string(), t.clone()),
        ];
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        save_safetensors(&tensors, Some(&meta), &path).unwrap();
        let (loaded, m) = load_safetensors(&path).unwrap();
        assert_eq!(m, meta);
        let get = |n: &str| loaded.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(
            get("f").to_vec::<f32>().unwrap(),
            f.to_vec::<f32>().unwrap()
        );
        assert_eq!(get("d").to_vec::<f64>().unwrap(), vec![1e-300, 2.0]);
        assert_eq!(
            get("i").to_vec::<i64>().unwrap(),
            vec![i64::MIN, -1, i64::MAX]
        );
        assert_eq!(get("b").dtype(), DType::Bool);
        assert_eq!(get("b").to_vec::<u8>().unwrap(), vec![1, 0, 1]);
        assert_eq!(get("e").shape().as_slice(), &[0, 4]);
        assert_eq!(get("s").shape().as_slice(), &[] as &[usize]);
        assert_eq!(get("t").shape().as_slice(), &[3, 2]);
        assert_eq!(
            get("t").to_vec::<f32>().unwrap(),
            t.to_vec::<f32>().unwrap()
        );
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn failed_write_keeps_the_old_file_and_removes_the_temp() {
        let dir = tmpdir("atomic");
        let path = dir.join("ckpt.safetensors");
        fs::write(&path, b"old contents").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(&[7u8; 10_000]).unwrap();
            Err(Error::Io("disk full (simulated)".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("simulated"));
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reserved_and_duplicate_names_are_refused() {
        let dir = tmpdir("names");
        let path = dir.join("x.safetensors");
        let t = Tensor::from_slice(&[1.0f32], &[1]).unwrap();
        let e = save_safetensors(&[(METADATA_KEY.to_string(), t.clone())], None, &path);
        assert!(matches!(e, Err(Error::Value(_))));
        let e = save_safetensors(&[("a".into(), t.clone()), ("a".into(), t)], None, &path);
        assert!(matches!(e, Err(Error::Value(_))));
        assert!(!path.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    fn file_with(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    fn load_bytes(tag: &str, bytes: &[u8]) -> Result<Loaded> {
        let dir = tmpdir(tag);
        let path = dir.join("h.safetensors");
        fs::write(&path, bytes).unwrap();
        let r = load_safetensors(&path);
        fs::remove_dir_all(dir).unwrap();
        r
    }

    fn expect_err(tag: &str, bytes: &[u8], needle: &str) {
        match load_bytes(tag, bytes) {
            Ok(_) => panic!("{tag}: loaded a bad file"),
            Err(e) => {
                assert!(matches!(e, Error::Runtime(_)), "{tag}: {e:?}");
                assert!(e.to_string().contains(needle), "{tag}: {e}");
            }
        }
    }

    #[test]
    fn hostile_files_are_refused() {
        let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(load_bytes("ok", &file_with(ok, &[0; 8])).is_ok());
        expect_err("tiny", &[1, 2, 3], "fewer than the 8-byte");
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        expect_err("huge", &huge, "above the safetensors limit");
        let mut long = 5000u64.to_le_bytes().to_vec();
        long.extend_from_slice(b"{}      ");
        expect_err("long", &long, "only 8 bytes follow");
        expect_err(
            "truncated",
            &file_with(ok, &[0; 4]),
            "past the end of the data section",
        );
        expect_err("trailing", &file_with(ok, &[0; 12]), "trailing bytes");
        let past =
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[1000000000000,1000000000008]}}"#;
        expect_err("past", &file_with(past, &[0; 8]), "past the end");
        let size = r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#;
        expect_err("size", &file_with(size, &[0; 8]), "needs 16 bytes");
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        expect_err("overlap", &file_with(overlap, &[0; 12]), "overlap");
        let gap = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        expect_err("gap", &file_with(gap, &[0; 8]), "belong to no tensor");
        let back = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#;
        expect_err("backwards", &file_with(back, &[0; 8]), "run backwards");
        let dtype = r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#;
        expect_err("dtype", &file_with(dtype, &[0; 8]), "dtype 'Q4'");
        let overflow =
            r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#;
        expect_err("overflow", &file_with(overflow, &[0; 8]), "overflows");
        let neg = r#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#;
        expect_err("negative", &file_with(neg, &[0; 8]), "non-negative");
        expect_err("json", &file_with("{not json", &[]), "not valid JSON");
        expect_err("utf8", &file_with("\u{0}\u{0}", &[]), "not valid JSON");
        let mut bad_utf8 = 2u64.to_le_bytes().to_vec();
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        expect_err("utf8b", &bad_utf8, "UTF-8");
        expect_err("array", &file_with("[]", &[]), "not a JSON object");
        let meta = r#"{"__metadata__":{"a":1}}"#;
        expect_err("meta", &file_with(meta, &[]), "strings to strings");
        let deep = "[".repeat(100_000);
        expect_err("deep", &file_with(&deep, &[]), "not valid JSON");
    }

    #[test]
    fn file_dtypes_load_as_ours_and_wide_unsigned_as_int64() {
        let h = r#"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"i":{"dtype":"I8","shape":[2],"data_offsets":[6,8]},"u":{"dtype":"U16","shape":[1],"data_offsets":[8,10]}}"#;
        // 1.0, -2.0, 2^-24 in half precision; -1, 5 as i8; 65535 as u16.
        let data = [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x05, 0xff, 0xff];
        let (t, _) = load_bytes("widen", &file_with(h, &data)).unwrap();
        let dtypes: Vec<DType> = t.iter().map(|(_, x)| x.dtype()).collect();
        assert_eq!(dtypes, vec![DType::F16, DType::I8, DType::I64]);
        assert_eq!(
            t[0].1.to_vec::<f32>().unwrap(),
            vec![1.0, -2.0, 2f32.powi(-24)]
        );
        assert_eq!(t[1].1.to_vec::<i64>().unwrap(), vec![-1, 5]);
        assert_eq!(t[2].1.to_vec::<i64>().unwrap(), vec![65535]);
    }
}
