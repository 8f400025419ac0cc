fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The service definitions; their messages carry the ledger's own encodings as bytes.
    tonic_prost_build::compile_protos("proto/node.proto")?;
    Ok(())
}
