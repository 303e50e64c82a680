//! FlatBuffers tables written with the `flatbuffers` crate's builder (its raw API: the caller
//! names each field's vtable slot), which lays out the vtables, offsets and alignment. The
//! builder writes back to front, so a table's children (vectors, strings, tables) are built
//! before it.
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, TableFinishedWIPOffset, UnionWIPOffset, VOffsetT, WIPOffset};

pub(super) type Table = WIPOffset<TableFinishedWIPOffset>;

/// A field's slot in its table's vtable: after the vtable's two sizes, two bytes per field id
/// (a field's id is its position in its table in the schema, from 0).
pub(super) const fn slot(id: VOffsetT) -> VOffsetT {
    4 + 2 * id
}

/// A table field's value: scalars inline, objects (tables, vectors, strings) by offset.
#[derive(Clone, Copy)]
pub(super) enum Value {
    I8(i8),
    U8(u8),
    I32(i32),
    U32(u32),
    F32(f32),
    Object(WIPOffset<UnionWIPOffset>),
}

impl From<Table> for Value {
    fn from(t: Table) -> Self {
        Value::Object(t.as_union_value())
    }
}

/// Writes nothing, aligned to `ALIGN`: pushed, it pads the buffer to a multiple of `ALIGN` and
/// makes the finished buffer's size one too, so that what lies at a multiple of `ALIGN` from
/// the end lies at one from the start. (The builder's own `align` is private.)
struct Align<const ALIGN: usize>;

impl<const ALIGN: usize> Push for Align<ALIGN> {
    type Output = ();
    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}
    fn alignment() -> PushAlignment {
        PushAlignment::new(ALIGN)
    }
}

/// A FlatBuffer being built.
pub(super) struct Fb<'a>(FlatBufferBuilder<'a>);

impl Fb<'_> {
    /// A builder with room for `capacity` bytes (it grows, copying, past them).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Fb(FlatBufferBuilder::with_capacity(capacity))
    }

    /// A table of `fields`, each written even where it equals the schema's default, so the
    /// file states every setting.
    pub(super) fn table(&mut self, fields: &[(VOffsetT, Value)]) -> Table {
        let start = self.0.start_table();
        for &(slot, value) in fields {
            match value {
                Value::I8(v) => self.0.push_slot_always(slot, v),
                Value::U8(v) => self.0.push_slot_always(slot, v),
                Value::I32(v) => self.0.push_slot_always(slot, v),
                Value::U32(v) => self.0.push_slot_always(slot, v),
                Value::F32(v) => self.0.push_slot_always(slot, v),
                Value::Object(v) => self.0.push_slot_always(slot, v),
            }
        }
        self.0.end_table(start)
    }

    pub(super) fn ints(&mut self, values: &[i32]) -> Value {
        Value::Object(self.0.create_vector(values).as_union_value())
    }

    pub(super) fn str(&mut self, s: &str) -> Value {
        Value::Object(self.0.create_string(s).as_union_value())
    }

    pub(super) fn tables(&mut self, tables: &[Table]) -> Value {
        Value::Object(self.0.create_vector(tables).as_union_value())
    }

    /// A byte vector whose data (after its length) starts at a multiple of `ALIGN` bytes from
    /// the start of the file (a schema's `force_align`, which the builder does not apply).
    pub(super) fn aligned_bytes<const ALIGN: usize>(&mut self, bytes: &[u8]) -> Value {
        self.0.push(Align::<ALIGN>);
        // Padding so that the data, written next (below it), starts a multiple of ALIGN from the end.
        for _ in 0..(ALIGN - bytes.len() % ALIGN) % ALIGN {
            self.0.push(0u8);
        }
        Value::Object(self.0.create_vector(bytes).as_union_value())
    }

    /// The finished buffer, `root` its root table, with the schema's file identifier.
    pub(super) fn finish(mut self, root: Table, identifier: &str) -> Vec<u8> {
        self.0.finish(root, Some(identifier));
        self.0.finished_data().to_vec()
    }
}
