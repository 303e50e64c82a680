//! The protobuf wire format, as much of it as ONNX needs: varints, length-delimited fields and
//! 32-bit floats (protobuf's encoding guide). Field numbers come from the caller, named after
//! its .proto.

/// Wire types: the low three bits of a field's tag.
const WIRE_VARINT: u64 = 0;
const WIRE_LEN: u64 = 2;
const WIRE_I32: u64 = 5;

/// A message being written: each field is a tag (number and wire type) and a value.
#[derive(Default)]
pub(super) struct Proto(pub(super) Vec<u8>);

impl Proto {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u64) {
        self.varint((field as u64) << 3 | wire);
    }

    /// An integer field (`int64`, `int32` or an enum); a negative value takes ten bytes.
    pub(super) fn int(mut self, field: u32, v: i64) -> Self {
        self.tag(field, WIRE_VARINT);
        self.varint(v as u64);
        self
    }

    /// A repeated integer field, one tag per value (unpacked: parsers read packed and unpacked).
    pub(super) fn ints(self, field: u32, vs: &[i64]) -> Self {
        vs.iter().fold(self, |p, &v| p.int(field, v))
    }

    pub(super) fn bytes(mut self, field: u32, b: &[u8]) -> Self {
        self.tag(field, WIRE_LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A `float` field: four little-endian bytes.
    pub(super) fn float(mut self, field: u32, v: f32) -> Self {
        self.tag(field, WIRE_I32);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(super) fn str(self, field: u32, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }

    /// An embedded message.
    pub(super) fn msg(self, field: u32, m: Proto) -> Self {
        self.bytes(field, &m.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Proto;

    /// The examples of protobuf's encoding guide: 150 in field 1 is `08 96 01`; "testing" in
    /// field 2 is `12 07` and the bytes.
    #[test]
    fn fields_encode_as_the_encoding_guide_shows() {
        assert_eq!(Proto::default().int(1, 150).0, [0x08, 0x96, 0x01]);
        assert_eq!(Proto::default().str(2, "testing").0, b"\x12\x07testing");
        assert_eq!(Proto::default().float(2, 1.0).0, [0x15, 0, 0, 0x80, 0x3f]);
        assert_eq!(Proto::default().int(1, -1).0.len(), 11, "a negative varint is ten bytes");
    }
}
