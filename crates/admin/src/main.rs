//! `onboarding-admin`: what the platform team runs before `sam deploy`. `catalog check <file>` reads the role
//! catalog they keep in their repository (YAML or JSON, `catalog.schema.json`), checks it as the functions
//! will at init (`provisioning::config::parse_catalog`) and against IAM's limits, and prints the parameter
//! overrides it implies, so that `CatalogRoleNames`, `CatalogManagedPolicyArns` and `SpokeAccountIds` are
//! derived from the catalog instead of kept in step by hand.

mod catalog;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "onboarding-admin", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The role catalog file.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Check the catalog and print the `sam deploy --parameter-overrides` it implies.
    Check {
        /// The catalog: YAML or JSON, a list of roles under `roles:`.
        file: PathBuf,
        /// The name (starting with /) of the SSM parameter to keep a catalog in when it is too large to
        /// pass inline.
        #[arg(long, default_value = catalog::DEFAULT_PARAMETER)]
        parameter: String,
        /// Print the result as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the catalog as the compact JSON the functions read (`RoleCatalog`, or the SSM parameter's
    /// value: `aws ssm put-parameter --value file://<(onboarding-admin catalog json catalog.yaml)`).
    Json { file: PathBuf },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Command::Catalog(CatalogCommand::Check {
            file,
            parameter,
            json,
        }) => catalog::Checked::read(&file, &parameter)
            .map(|checked| if json { checked.json() } else { checked.text() }),
        Command::Catalog(CatalogCommand::Json { file }) => {
            catalog::Checked::read(&file, catalog::DEFAULT_PARAMETER)
                .map(|checked| checked.catalog_json)
        }
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("onboarding-admin: {error}");
            ExitCode::FAILURE
        }
    }
}
