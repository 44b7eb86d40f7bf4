//! `grove-node`: tools for running Grove nodes.
//!
//! `grove-node certs --out certs` writes a development CA and a node certificate (for
//! 127.0.0.1, ::1 and localhost unless `--host` says otherwise), ready for
//! `NodeBuilder::tls(TlsFiles::in_dir("certs"))`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "grove-node", about = "Tools for running Grove nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a development CA and a node certificate signed by it.
    Certs {
        /// The directory to write ca.pem, node.pem and node-key.pem into.
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// A host name or IP address the certificate is valid for (repeat for several).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Certs { out, mut hosts } => {
            if hosts.is_empty() {
                hosts = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
            }
            match grove_node::generate_dev_certs(&out, &hosts) {
                Ok(files) => {
                    println!(
                        "wrote {}, {} and {} (valid for {})",
                        files.ca.display(),
                        files.cert.display(),
                        files.key.display(),
                        hosts.join(", ")
                    );
                    println!(
                        "use them with NodeBuilder::tls(TlsFiles::in_dir({:?}))",
                        out
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("grove-node certs: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
