//! Runbooks are Markdown written by the team; they are rendered with pulldown-cmark and
//! then sanitised with ammonia, so a runbook cannot run script in the dashboard.

use pulldown_cmark::{html, Options, Parser};

/// Sanitised HTML of a Markdown text.
pub fn render(markdown: &str) -> String {
    let mut raw = String::new();
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    ammonia::clean(&raw)
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_is_removed_and_markup_kept() {
        let out = super::render("# Restart\n\n<script>alert(1)</script>\n\n`pm2 restart app`\n\n[x](javascript:alert(1))");
        assert!(out.contains("<h1>Restart</h1>"), "{out}");
        assert!(out.contains("<code>pm2 restart app</code>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("javascript:"), "{out}");
    }
}
