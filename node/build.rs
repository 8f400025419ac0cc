fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The service definitions; their messages carry the ledger's own encodings as bytes.
    // `Bytes.data` (a proposal, its response, an envelope, a block: megabytes each) decodes
    // as a `bytes::Bytes` cut from tonic's receive buffer, not copied into a `Vec`, and the
    // ledger's messages decode from it in place: a hop copies a message once on each side.
    tonic_prost_build::configure()
        .bytes(".iclear.node.Bytes.data")
        .compile_protos(&["proto/node.proto"], &["proto"])?;
    Ok(())
}
