use proptest::prelude::*;

use super::*;

const W3C: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const W3C_SPAN: &str = "00f067aa0ba902b7";

#[test]
fn hex_forms() {
    let mut b = [0u8; 16];
    b[15] = 0x0f;
    b[0] = 0xa0;
    assert_eq!(TraceId(b).to_hex(), "a000000000000000000000000000000f");
    assert_eq!(SpanId([1, 2, 3, 4, 5, 6, 7, 0xff]).to_hex(), "01020304050607ff");
    assert!(TraceId::default().is_zero());
    assert!(!TraceId(b).is_zero());
}

/// Every accepted trace-ID format, with the normalised form it must give.
#[test]
fn trace_id_formats() {
    let cases: &[(&str, &str, &str)] = &[
        ("32 lowercase hex (W3C, OTLP via Prometheus)", W3C, W3C),
        ("32 uppercase hex", "4BF92F3577B34DA6A3CE929D0E0E4736", W3C),
        ("mixed case", "4bF92f3577B34dA6a3ce929D0e0e4736", W3C),
        ("surrounding whitespace", " \t4bf92f3577b34da6a3ce929d0e0e4736\r\n", W3C),
        ("0x prefix", "0x4bf92f3577b34da6a3ce929d0e0e4736", W3C),
        ("0X prefix, uppercase", "0X4BF92F3577B34DA6A3CE929D0E0E4736", W3C),
        ("dashed UUID", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736", W3C),
        ("dashed UUID, uppercase", "4BF92F35-77B3-4DA6-A3CE-929D0E0E4736", W3C),
        (
            "base64 of 16 bytes (OTLP protobuf-JSON)",
            "S/kvNXezTaajzpKdDg5HNg==",
            W3C,
        ),
        ("base64 unpadded", "S/kvNXezTaajzpKdDg5HNg", W3C),
        ("base64 URL-safe", "S_kvNXezTaajzpKdDg5HNg==", W3C),
        ("base64 URL-safe unpadded", "S_kvNXezTaajzpKdDg5HNg", W3C),
        (
            "base64 with + and /",
            "+/8/5/v/P+f7/z/n+/8/5w==",
            "fbff3fe7fbff3fe7fbff3fe7fbff3fe7",
        ),
        (
            "base64 of 8 bytes (64-bit ID)",
            "APBnqgupArc=",
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "16 hex: 64-bit Jaeger/B3 ID, padded",
            W3C_SPAN,
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "16 hex, uppercase",
            "00F067AA0BA902B7",
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "dropped leading zeros (15 hex)",
            "f067aa0ba902b7",
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "dropped leading zeros (31 hex)",
            "bf92f3577b34da6a3ce929d0e0e4736",
            "0bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ("one hex digit", "1", "00000000000000000000000000000001"),
        (
            "0x with dropped zeros",
            "0xf067aa0ba902b7",
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "16 decimal digits: hex wins",
            "1234567890123456",
            "00000000000000001234567890123456",
        ),
        (
            "17 decimal digits: decimal 64-bit",
            "67667974448284343",
            "000000000000000000f067aa0ba902b7",
        ),
        (
            "20 decimal digits: decimal",
            "12345678901234567890",
            "0000000000000000ab54a98ceb1f0ad2",
        ),
        (
            "u64::MAX in decimal",
            "18446744073709551615",
            "0000000000000000ffffffffffffffff",
        ),
        (
            "20 digits above u64: 128-bit decimal",
            "18446744073709551616",
            "00000000000000010000000000000000",
        ),
        (
            "21 decimal digits: hex wins",
            "123456789012345678901",
            "00000000000123456789012345678901",
        ),
        (
            "32 decimal digits: hex wins",
            "12345678901234567890123456789012",
            "12345678901234567890123456789012",
        ),
        (
            "39 decimal digits: 128-bit decimal",
            "100985939111033328018442752961257817910",
            W3C,
        ),
        (
            "W3C traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            W3C,
        ),
    ];
    for (what, input, want) in cases {
        match TraceId::parse(input) {
            Ok(id) => assert_eq!(id.to_hex(), *want, "{what}: {input:?}"),
            Err(e) => panic!("{what}: {input:?} refused: {e}"),
        }
    }
}

/// Hostile and malformed input: each refused with the right reason, none panics.
#[test]
fn trace_id_refused() {
    let long = "a".repeat(65);
    let huge = "f".repeat(100_000);
    let cases: Vec<(&str, &str, IdError)> = vec![
        ("empty", "", IdError::Empty),
        ("only whitespace", " \t\r\n", IdError::Empty),
        ("all zeros", "00000000000000000000000000000000", IdError::Zero),
        ("all zeros, short", "0", IdError::Zero),
        ("all zeros, 0x", "0x0", IdError::Zero),
        ("all zeros, UUID", "00000000-0000-0000-0000-000000000000", IdError::Zero),
        ("all zeros, base64", "AAAAAAAAAAAAAAAAAAAAAA==", IdError::Zero),
        (
            "all zeros, 39-digit decimal",
            "000000000000000000000000000000000000000",
            IdError::Zero,
        ),
        (
            "33 hex",
            "04bf92f3577b34da6a3ce929d0e0e4736a",
            IdError::TooManyHexDigits { digits: 34, bits: 128 },
        ),
        (
            "0x with 33 hex",
            "0x14bf92f3577b34da6a3ce929d0e0e4736",
            IdError::TooManyHexDigits { digits: 33, bits: 128 },
        ),
        (
            "40 decimal digits",
            "1234567890123456789012345678901234567890",
            IdError::DecimalOverflow { bits: 128 },
        ),
        (
            "39 digits above u128",
            "999999999999999999999999999999999999999",
            IdError::DecimalOverflow { bits: 128 },
        ),
        ("overlong", &long, IdError::TooLong { len: 65 }),
        ("huge", &huge, IdError::TooLong { len: 100_000 }),
        (
            "non-ASCII",
            "4bf92f3577b34da6a3ce929d0e0e473é",
            IdError::NonAscii { at: 31 },
        ),
        ("fullwidth digit", "１２３", IdError::NonAscii { at: 0 }),
        ("NUL inside", "4bf92f35\0", IdError::Control { at: 8, byte: 0 }),
        ("escape inside", "\u{1b}[31m", IdError::Control { at: 0, byte: 0x1b }),
        ("newline inside", "4bf9\n2f35", IdError::Control { at: 4, byte: b'\n' }),
        ("DEL", "abc\u{7f}", IdError::Control { at: 3, byte: 0x7f }),
        ("0x alone", "0x", IdError::Unrecognised { bits: 128 }),
        ("0x non-hex", "0xzz", IdError::Unrecognised { bits: 128 }),
        (
            "signed decimal",
            "-67667974448284343",
            IdError::Unrecognised { bits: 128 },
        ),
        ("plus", "+1", IdError::Unrecognised { bits: 128 }),
        ("html", "<script>alert(1)</script>", IdError::Unrecognised { bits: 128 }),
        (
            "javascript URL",
            "javascript:alert(1)",
            IdError::Unrecognised { bits: 128 },
        ),
        ("quotes", "\"4bf92f35\"", IdError::Unrecognised { bits: 128 }),
        (
            "UUID with non-hex",
            "4bf92f35-77b3-4da6-a3ce-929d0e0e473g",
            IdError::Unrecognised { bits: 128 },
        ),
        (
            "UUID dashes misplaced",
            "4bf92f3-577b3-4da6-a3ce-929d0e0e4736",
            IdError::Unrecognised { bits: 128 },
        ),
        ("inner space", "4bf92f35 77b34da6", IdError::Unrecognised { bits: 128 }),
        (
            "base64 of 12 bytes",
            "AAECAwQFBgcICQoL",
            IdError::Unrecognised { bits: 128 },
        ),
        (
            "base64 bad padding",
            "S/kvNXezTaajzpKdDg5HN===",
            IdError::Unrecognised { bits: 128 },
        ),
        (
            "traceparent non-hex",
            "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
            IdError::Unrecognised { bits: 128 },
        ),
        (
            "traceparent zero trace",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            IdError::Zero,
        ),
        ("word", "none", IdError::Unrecognised { bits: 128 }),
        ("placeholder", "${__value.raw}", IdError::Unrecognised { bits: 128 }),
    ];
    for (what, input, want) in cases {
        assert_eq!(TraceId::parse(input), Err(want), "{what}: {input:?}");
    }
}

#[test]
fn span_id_formats() {
    let ok: &[(&str, &str)] = &[
        (W3C_SPAN, W3C_SPAN),
        ("00F067AA0BA902B7", W3C_SPAN),
        ("f067aa0ba902b7", W3C_SPAN),
        ("0xF067AA0BA902B7", W3C_SPAN),
        (" 00f067aa0ba902b7 ", W3C_SPAN),
        ("APBnqgupArc=", W3C_SPAN),
        ("APBnqgupArc", W3C_SPAN),
        ("67667974448284343", W3C_SPAN),
        ("18446744073709551615", "ffffffffffffffff"),
        ("1234567890123456", "1234567890123456"),
    ];
    for (input, want) in ok {
        assert_eq!(
            SpanId::parse(input).map(|s| s.to_hex()),
            Ok((*want).to_owned()),
            "{input:?}"
        );
    }
    let bad: &[(&str, IdError)] = &[
        ("", IdError::Empty),
        ("0000000000000000", IdError::Zero),
        (W3C, IdError::TooManyHexDigits { digits: 32, bits: 64 }),
        ("18446744073709551616", IdError::DecimalOverflow { bits: 64 }),
        ("123456789012345678901", IdError::DecimalOverflow { bits: 64 }),
        ("S/kvNXezTaajzpKdDg5HNg==", IdError::Unrecognised { bits: 64 }),
        (
            "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
            IdError::Unrecognised { bits: 64 },
        ),
        ("x", IdError::Unrecognised { bits: 64 }),
    ];
    for (input, want) in bad {
        assert_eq!(SpanId::parse(input), Err(want.clone()), "{input:?}");
    }
}

#[test]
fn find_trace_precedence() {
    let names = &TRACE_ID_LABEL_NAMES;
    // Each recognised name alone.
    for n in TRACE_ID_LABEL_NAMES {
        let l = Labels::from_pairs(&[(n, W3C)]);
        let t = find_trace(&l, names).expect("found");
        assert_eq!((t.label, t.raw), (n, W3C));
        assert_eq!(t.trace_id.map(|t| t.to_hex()), Ok(W3C.to_owned()));
    }
    // No trace label at all.
    assert_eq!(find_trace(&Labels::from_pairs(&[("foo", W3C)]), names), None);
    // Two good IDs: the earlier name wins.
    let l = Labels::from_pairs(&[("traceID", "1"), ("trace_id", W3C)]);
    assert_eq!(find_trace(&l, names).map(|t| t.label), Some("trace_id"));
    // Garbage under the earlier name does not hide a good later one.
    let l = Labels::from_pairs(&[("trace_id", "garbage"), ("traceId", W3C)]);
    let t = find_trace(&l, names).expect("found");
    assert_eq!(t.label, "traceId");
    // Only garbage: the first present is reported, with its error.
    let l = Labels::from_pairs(&[("traceId", "zz"), ("traceID", "yy")]);
    let t = find_trace(&l, names).expect("found");
    assert_eq!((t.label, t.raw), ("traceID", "yy"));
    assert_eq!(t.trace_id, Err(IdError::Unrecognised { bits: 128 }));
    // Configured names are honoured in their order; others are not looked at.
    let l = Labels::from_pairs(&[("my_trace", W3C), ("trace_id", "1")]);
    assert_eq!(find_trace(&l, &["my_trace"]).map(|t| t.label), Some("my_trace"));
    assert_eq!(find_trace(&l, &["nope"]), None);
    // Span IDs: the first span label that parses, else the traceparent's.
    let l = Labels::from_pairs(&[("trace_id", W3C), ("spanId", "bad"), ("spanID", "APBnqgupArc=")]);
    assert_eq!(
        find_trace(&l, names).and_then(|t| t.span_id).map(|s| s.to_hex()),
        Some(W3C_SPAN.to_owned())
    );
    let l = Labels::from_pairs(&[
        ("traceparent", "x"),
        ("trace_id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00000000000000aa-01"),
    ]);
    assert_eq!(
        find_trace(&l, names).and_then(|t| t.span_id).map(|s| s.to_hex()),
        Some("00000000000000aa".to_owned())
    );
    let l = Labels::from_pairs(&[("trace_id", W3C)]);
    assert_eq!(find_trace(&l, names).and_then(|t| t.span_id), None);
}

#[test]
fn stats_count_only_unlinkable() {
    let st = TraceIdStats::default();
    let count = |st: &TraceIdStats, name: &str| st.unparsable().iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c);
    st.observe(&Labels::from_pairs(&[("trace_id", W3C)]));
    st.observe(&Labels::from_pairs(&[("traceID", "4BF92F3577B34DA6A3CE929D0E0E4736")]));
    st.observe(&Labels::from_pairs(&[("foo", "bar")]));
    st.observe(&Labels::from_pairs(&[("trace_id", "garbage"), ("traceId", W3C)]));
    assert!(st.unparsable().iter().all(|(_, c)| *c == 0));
    st.observe(&Labels::from_pairs(&[("traceID", "not-a-trace")]));
    st.observe(&Labels::from_pairs(&[("traceID", "00000000000000000000000000000000")]));
    st.observe(&Labels::from_pairs(&[("trace_id", "x"), ("traceID", "y")]));
    assert_eq!(count(&st, "traceID"), 2);
    assert_eq!(count(&st, "trace_id"), 1);
    assert_eq!(st.unparsable().len(), TRACE_ID_LABEL_NAMES.len());
}

/// The fuzz target's body (`fuzz/fuzz_targets/traceid.rs`): arbitrary input never panics, and whatever
/// parses is non-zero and re-parses, from its normal form, to itself.
pub(crate) fn fuzz_body(s: &str) {
    if let Ok(id) = TraceId::parse(s) {
        assert!(!id.is_zero());
        assert_eq!(TraceId::parse(&id.to_hex()), Ok(id));
    }
    if let Ok(id) = SpanId::parse(s) {
        assert_ne!(id.0, [0; 8]);
        assert_eq!(SpanId::parse(&id.to_hex()), Ok(id));
    }
    let l = Labels::from_pairs(&[("trace_id", s), ("span_id", s)]);
    let _ = find_trace(&l, &TRACE_ID_LABEL_NAMES);
    TraceIdStats::default().observe(&l);
}

/// Found by `short_ids_pad` in CI: base64 of bytes `d1 70 ..` starts with "0X", which is not a hex prefix.
#[test]
fn base64_starting_with_0x_is_base64() {
    let want = TraceId([0, 0, 0, 0, 0, 0, 0, 0, 0xd1, 0x70, 0, 0, 0, 0, 0, 0]);
    assert_eq!(TraceId::parse("0XAAAAAAAAA="), Ok(want));
    assert_eq!(
        SpanId::parse("0XAAAAAAAAA="),
        Ok(SpanId([0xd1, 0x70, 0, 0, 0, 0, 0, 0]))
    );
    assert_eq!(TraceId::parse("0xzz"), Err(IdError::Unrecognised { bits: 128 }));
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,80}") {
        fuzz_body(&s);
    }

    #[test]
    fn id_shaped_strings_never_panic(s in "[0-9a-fA-FxX+/=_-]{0,60}") {
        fuzz_body(&s);
    }

    /// Every encoding of the same 16 bytes normalises to the same ID.
    #[test]
    fn encodings_agree(bytes in any::<[u8; 16]>()) {
        use base64::Engine as _;
        prop_assume!(bytes != [0; 16]);
        let id = TraceId(bytes);
        let hex = id.to_hex();
        let dashed = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let stripped = hex.trim_start_matches('0').to_owned();
        let dec = u128::from_be_bytes(bytes).to_string();
        let mut forms = vec![hex.clone(), hex.to_uppercase(), format!("0x{hex}"), dashed, b64, stripped,
            format!("00-{hex}-00f067aa0ba902b7-01")];
        // Unpadded base64 is only taken when it is not also hex (hex wins).
        let hexish = |t: &str| t.bytes().all(|c| c.is_ascii_hexdigit());
        let zero_x_hex = b64url.strip_prefix("0x").or_else(|| b64url.strip_prefix("0X")).is_some_and(hexish);
        if !hexish(&b64url) && !zero_x_hex { forms.push(b64url); }
        // 128-bit decimal is read as decimal only at 33-39 digits (see the module docs).
        if dec.len() >= 33 { forms.push(dec); }
        for f in forms {
            prop_assert_eq!(TraceId::parse(&f), Ok(id), "{}", f);
        }
    }

    /// 64-bit IDs in hex, decimal (17+ digits) and base64 all give the zero-padded 128-bit form.
    #[test]
    fn short_ids_pad(v in 1u64..) {
        use base64::Engine as _;
        let mut want = [0u8; 16];
        want[8..].copy_from_slice(&v.to_be_bytes());
        let want = TraceId(want);
        prop_assert_eq!(TraceId::parse(&format!("{v:016x}")), Ok(want));
        prop_assert_eq!(TraceId::parse(&format!("{v:x}")), Ok(want));
        prop_assert_eq!(TraceId::parse(&base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())), Ok(want));
        let dec = v.to_string();
        if dec.len() >= 17 {
            prop_assert_eq!(TraceId::parse(&dec), Ok(want));
            prop_assert_eq!(SpanId::parse(&dec), Ok(SpanId(v.to_be_bytes())));
        }
        prop_assert_eq!(SpanId::parse(&format!("{v:x}")), Ok(SpanId(v.to_be_bytes())));
    }
}
