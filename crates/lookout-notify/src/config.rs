//! Channel configuration: `[channels.NAME]` tables, selected by `kind`, checked for what
//! serde cannot check, and built into channels.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{discord, email, pagerduty, slack, teams, webhook, Channel, SecretUrl};

/// The settings of a channel that is one webhook URL (Slack, Discord, Teams).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The webhook's URL; a secret (it is the credential).
    pub webhook_url: SecretUrl,
    /// How long one delivery may take (default 10s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl HookConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        self.webhook_url
            .validate()
            .map_err(|m| ("webhook_url", m))?;
        validate_timeout(self.timeout)
    }
}

/// `[channels.NAME]`: one destination, selected by `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelConfig {
    /// A Slack incoming webhook.
    Slack(slack::SlackConfig),
    /// A Discord channel webhook.
    Discord(discord::DiscordConfig),
    /// A Microsoft Teams Workflows webhook.
    Teams(teams::TeamsConfig),
    /// PagerDuty Events API v2.
    Pagerduty(pagerduty::PagerDutyConfig),
    /// Any HTTP endpoint: JSON signed per the Standard Webhooks spec.
    Webhook(webhook::WebhookConfig),
    /// Email over SMTP.
    Email(email::EmailConfig),
}

impl ChannelConfig {
    /// The kind as written in the config, e.g. "pagerduty".
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Discord(_) => "discord",
            ChannelConfig::Teams(_) => "teams",
            ChannelConfig::Pagerduty(_) => "pagerduty",
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::Email(_) => "email",
        }
    }

    /// Checks the values serde cannot: on error, the key (relative to the channel's table)
    /// and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            ChannelConfig::Slack(c) => c.validate(),
            ChannelConfig::Discord(c) => c.validate(),
            ChannelConfig::Teams(c) => c.validate(),
            ChannelConfig::Pagerduty(c) => c.validate(),
            ChannelConfig::Webhook(c) => c.validate(),
            ChannelConfig::Email(c) => c.validate(),
        }
        .map_err(|(key, message)| (key.to_string(), message))
    }
}

/// Builds the channel a config describes, or says (as "key: message") what is wrong.
pub fn build(config: &ChannelConfig) -> Result<Box<dyn Channel>, String> {
    config
        .validate()
        .map_err(|(key, message)| format!("{key}: {message}"))?;
    Ok(match config {
        ChannelConfig::Slack(c) => Box::new(slack::Slack::new(c)),
        ChannelConfig::Discord(c) => Box::new(discord::Discord::new(c)),
        ChannelConfig::Teams(c) => Box::new(teams::Teams::new(c)),
        ChannelConfig::Pagerduty(c) => Box::new(pagerduty::PagerDuty::new(c)),
        ChannelConfig::Webhook(c) => Box::new(webhook::Webhook::new(c)?),
        ChannelConfig::Email(c) => Box::new(email::Email::new(c)?),
    })
}

/// The timeout of one delivery when a channel sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `timeout` a channel may set: sends hold a thread of the blocking pool.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// Checks a channel's `timeout` key.
pub(crate) fn validate_timeout(timeout: Option<Duration>) -> Result<(), (&'static str, String)> {
    match timeout {
        Some(t) if t.is_zero() || t > MAX_TIMEOUT => Err((
            "timeout",
            format!(
                "must be more than 0 and at most {}, e.g. \"10s\"",
                humantime::format_duration(MAX_TIMEOUT)
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parse(toml_text: &str) -> Result<ChannelConfig, String> {
        toml::from_str::<ChannelConfig>(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_parses_and_builds() {
        for text in [
            "kind = \"slack\"\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/XXXX\"\n",
            "kind = \"discord\"\nwebhook_url = \"https://discord.com/api/webhooks/1/abc\"\ntimeout = \"5s\"\n",
            "kind = \"teams\"\nwebhook_url = \"https://prod.westeurope.logic.azure.com/workflows/x\"\n",
            "kind = \"pagerduty\"\nrouting_key = \"R0UTINGKEY0123456789abcdefABCDEF\"\n",
            "kind = \"webhook\"\nurl = \"https://ops.example.com/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nheaders = { authorization = \"Bearer t0ken\" }\n",
            "kind = \"email\"\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword = \"p\"\nfrom = \"lookout <alerts@example.com>\"\nto = [\"ops@example.com\"]\n",
        ] {
            let c = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let ch = build(&c).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ch.kind(), c.kind());
        }
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let e = parse("kind = \"slack\"\nwebhook_url = \"https://x.test/h\"\nchanel = \"#ops\"\n")
            .unwrap_err();
        assert!(e.contains("chanel"), "{e}");
        let e = parse("kind = \"sms\"\nnumber = \"1\"\n").unwrap_err();
        assert!(e.contains("sms") && e.contains("slack"), "{e}");
        let e = parse("webhook_url = \"https://x.test/h\"\n").unwrap_err();
        assert!(e.contains("kind"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("kind = \"slack\"\nwebhook_url = \"hooks.slack.com/x\"\n", "webhook_url"),
            ("kind = \"discord\"\nwebhook_url = \"https://d.test/x\"\ntimeout = \"0s\"\n", "timeout"),
            ("kind = \"pagerduty\"\nrouting_key = \"\"\n", "routing_key"),
            ("kind = \"webhook\"\nurl = \"https://w.test/\"\nsecret = \"s3cret\"\n", "secret"),
            ("kind = \"webhook\"\nurl = \"https://w.test/\"\nheaders = { webhook-id = \"x\" }\n", "headers"),
            ("kind = \"email\"\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]\n", "from"),
            ("kind = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = []\n", "to"),
            ("kind = \"email\"\nhost = \"h\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n", "tls"),
            ("kind = \"email\"\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\nca_file = \"/nonexistent/ca.pem\"\n", "ca_file"),
        ];
        for (text, key) in cases {
            let c = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let (k, message) = c.validate().expect_err(text);
            assert_eq!(k, key, "{text}: {message}");
            let built = build(&c)
                .err()
                .expect("build refuses what validate refuses");
            assert!(built.starts_with(&format!("{key}: ")), "{built}");
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let c = parse("kind = \"webhook\"\nurl = \"https://ops.example.com/hook?token=abc123\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nheaders = { authorization = \"Bearer t0ken\" }\n").unwrap();
        let d = format!("{c:?}");
        for secret in ["abc123", "MfKQ9r8", "t0ken", "/hook"] {
            assert!(!d.contains(secret), "{secret} in {d}");
        }
        assert!(d.contains("https://ops.example.com"), "{d}");
        let c = parse(
            "kind = \"slack\"\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/XXXX\"\n",
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("XXXX") && d.contains("hooks.slack.com"), "{d}");
        let c = parse("kind = \"pagerduty\"\nrouting_key = \"R0UTINGKEY0123456789abcdefABCDEF\"\n")
            .unwrap();
        assert!(!format!("{c:?}").contains("R0UTING"));
        let c = parse("kind = \"email\"\nhost = \"h\"\nusername = \"u\"\npassword = \"hunter2\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn config_round_trips_through_serialize() {
        let text = "kind = \"webhook\"\nurl = \"https://ops.example.com/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout = \"3s\"\n";
        let c = parse(text).unwrap();
        let again = parse(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
        let ChannelConfig::Webhook(w) = again else {
            panic!("kind changed")
        };
        assert_eq!(
            w.secret.unwrap().expose_secret(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
        assert_eq!(w.timeout, Some(Duration::from_secs(3)));
    }

    /// `text` parsed, written back with Serialize and parsed again.
    fn round_trip(text: &str) -> ChannelConfig {
        parse(&toml::to_string(&parse(text).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn every_secret_is_written_back_by_serialize() {
        let webhook = "kind = \"webhook\"\nurl = \"https://ops.example.com/hook?token=abc123\"\nheaders = { authorization = \"Bearer t0ken\" }\n";
        let ChannelConfig::Webhook(w) = round_trip(webhook) else {
            panic!("kind changed")
        };
        assert_eq!(w.url.expose(), "https://ops.example.com/hook?token=abc123");
        assert_eq!(
            w.headers.unwrap()["authorization"].expose_secret(),
            "Bearer t0ken"
        );
        let pagerduty =
            "kind = \"pagerduty\"\nrouting_key = \"R0UTINGKEY0123456789abcdefABCDEF\"\n";
        let ChannelConfig::Pagerduty(p) = round_trip(pagerduty) else {
            panic!("kind changed")
        };
        assert_eq!(
            p.routing_key.expose_secret(),
            "R0UTINGKEY0123456789abcdefABCDEF"
        );
        let email = "kind = \"email\"\nhost = \"h\"\nusername = \"u\"\npassword = \"hunter2\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n";
        let ChannelConfig::Email(e) = round_trip(email) else {
            panic!("kind changed")
        };
        assert_eq!(e.password.unwrap().expose_secret(), "hunter2");
    }
}
