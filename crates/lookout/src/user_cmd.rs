//! `lookout user create|passwd|delete|list|token`: dashboard accounts and their API tokens,
//! written straight to the store the config names (the server need not run; a running one
//! sees them at once).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use lookout_server::{files, Config};
use lookout_store::Store;
use lookout_store::StoreError;

use crate::{load_config, Failure};

/// Options of `lookout user`.
#[derive(Args)]
pub struct UserArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Create a user. The password is read from stdin with --password-stdin, else from
    /// $LOOKOUT_PASSWORD, else one is generated and printed once.
    Create {
        /// The email address to sign in with.
        email: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (signs out their sessions); read like `create`'s.
    Passwd {
        /// The user's email address.
        email: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user with their sessions and API tokens.
    Delete {
        /// The user's email address.
        email: String,
    },
    /// List users.
    List,
    /// Create an API token for a user and print it once (as the dashboard's API tokens
    /// page does), e.g. for sentry-cli on CI limited to one project.
    Token {
        /// The user's email address.
        email: String,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// What it may do: read, write or project:releases (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Limit it to this project (slug; repeat for several). Without: every project.
        #[arg(long = "project")]
        projects: Vec<String>,
    },
}

/// The new password, and whether it was generated (and must be shown).
fn new_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    let given = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    } else {
        std::env::var("LOOKOUT_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
    };
    match given {
        Some(p) => {
            lookout_web::auth::check_new_password(&p)
                .map_err(|e| Failure::Usage(anyhow!("{e}")))?;
            Ok((p, false))
        }
        None => Ok((lookout_web::new_secret()[..24].to_string(), true)),
    }
}

fn email_of(email: &str) -> Result<String, Failure> {
    let e = email.trim().to_lowercase();
    if !e.contains('@') {
        return Err(Failure::Usage(anyhow!(
            "`{email}` is not an email address: users sign in with their email"
        )));
    }
    Ok(e)
}

fn hash(password: &str) -> Result<String, Failure> {
    lookout_web::hash_password(password).map_err(|e| Failure::Failed(anyhow!(e)))
}

/// The store the config names, its data directory created if need be.
fn open(config: &Config) -> Result<Arc<dyn Store>, Failure> {
    files::create_private_dir(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (server.data_dir)",
            config.server.data_dir.display()
        )
    })?;
    Ok(lookout_server::open_store(config)?)
}

/// Creates a user in the config's store and says so (with the password when it was
/// generated); `lookout init --admin-email` uses it too.
pub fn create(config: &Config, email: &str, password_stdin: bool) -> Result<(), Failure> {
    let email = email_of(email)?;
    let (password, generated) = new_password(password_stdin)?;
    let store = open(config)?;
    let now = jiff::Timestamp::now().as_millisecond();
    match store.create_user(&email, &hash(&password)?, now) {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Failure::Failed(anyhow!(
            "a user {email} exists already: change the password with `lookout user passwd {email}`"
        )))
        }
        Err(e) => return Err(Failure::Failed(e.into())),
    }
    println!("Created the dashboard user {email}.");
    if generated {
        println!("Password (shown once): {password}");
    }
    Ok(())
}

/// Runs `lookout user …`.
pub fn run(explicit: Option<PathBuf>, args: UserArgs) -> Result<(), Failure> {
    let (_, config) = load_config(explicit)?;
    if let Action::Create {
        email,
        password_stdin,
    } = &args.action
    {
        return create(&config, email, *password_stdin);
    }
    let store = open(&config)?;
    match args.action {
        Action::Create { .. } => {}
        Action::Passwd {
            email,
            password_stdin,
        } => {
            let email = email_of(&email)?;
            let (password, generated) = new_password(password_stdin)?;
            if !store
                .set_password(&email, &hash(&password)?)
                .map_err(|e| Failure::Failed(e.into()))?
            {
                return Err(Failure::Failed(anyhow!(
                    "there is no user {email}: see `lookout user list`"
                )));
            }
            println!("Changed the password of {email}; their sessions are signed out.");
            if generated {
                println!("Password (shown once): {password}");
            }
        }
        Action::Delete { email } => {
            let email = email_of(&email)?;
            if !store
                .delete_user(&email)
                .map_err(|e| Failure::Failed(e.into()))?
            {
                return Err(Failure::Failed(anyhow!(
                    "there is no user {email}: see `lookout user list`"
                )));
            }
            println!("Deleted {email} with their sessions and API tokens.");
        }
        Action::Token {
            email,
            name,
            scopes,
            projects,
        } => {
            let email = email_of(&email)?;
            if let Some(bad) = scopes
                .iter()
                .find(|s| lookout_web::Scope::parse(s).is_none())
            {
                return Err(Failure::Usage(anyhow!(
                    "--scope {bad}: not a scope; use read, write or project:releases"
                )));
            }
            let failed = |e: StoreError| Failure::Failed(e.into());
            let user = store
                .list_users()
                .map_err(failed)?
                .into_iter()
                .find(|u| u.email == email)
                .ok_or_else(|| {
                    Failure::Failed(anyhow!("there is no user {email}: see `lookout user list`"))
                })?;
            let limit = if projects.is_empty() {
                None
            } else {
                let all = store.list_projects().map_err(failed)?;
                let mut ids = Vec::new();
                for slug in &projects {
                    let p = all.iter().find(|p| &p.slug == slug).ok_or_else(|| {
                        Failure::Usage(anyhow!(
                            "--project {slug}: no such project (projects: {})",
                            all.iter()
                                .map(|p| p.slug.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                    ids.push(p.id);
                }
                Some(ids)
            };
            let prefix = lookout_web::TOKEN_PREFIX;
            let token = format!("{prefix}{}", lookout_web::new_secret());
            store
                .create_api_token(&lookout_store::NewApiToken {
                    user_id: user.id,
                    name: name.clone(),
                    token_hash: lookout_web::token_hash(&token),
                    prefix: token[..prefix.len() + 6].to_string(),
                    scopes,
                    projects: limit,
                    created_ms: jiff::Timestamp::now().as_millisecond(),
                })
                .map_err(failed)?;
            let reach = if projects.is_empty() {
                "every project".to_string()
            } else {
                format!("projects {}", projects.join(", "))
            };
            println!("Created the API token `{name}` of {email} for {reach}.");
            println!("Token (shown once): {token}");
        }
        Action::List => {
            for u in store.list_users().map_err(|e| Failure::Failed(e.into()))? {
                let last = u
                    .last_login_ms
                    .and_then(|t| jiff::Timestamp::from_millisecond(t).ok())
                    .map_or("never signed in".to_string(), |t| {
                        format!("last signed in {}", t.strftime("%Y-%m-%d %H:%M UTC"))
                    });
                println!("{}\t{last}", u.email);
            }
        }
    }
    Ok(())
}
