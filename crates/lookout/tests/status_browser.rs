//! A public status page in a real browser with JavaScript switched off: the monitor states
//! are readable from the server-rendered page alone. Then, with JavaScript on, axe-core finds
//! no serious or critical accessibility violation on it, and in a phone-sized window
//! (390 × 844) it does not scroll sideways. Screenshots go under
//! `target/tmp/status-browser/`.
//!
//! Switched on by `LOOKOUT_TEST_BROWSER=1`, like the dashboard's browser suite.

mod browser;
mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use browser::Browser;
use common::Server;

/// A site that answers every request 200, for the monitor that is up.
fn healthy_site() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

/// A port nothing listens on, for the monitor that is down.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_status_page_reads_with_javascript_off() {
    if common::suite_switch("LOOKOUT_TEST_BROWSER", "status page browser suite").is_none() {
        return;
    }
    let (up, down) = (healthy_site(), closed_port());
    let s = Server::start_with(&format!(
        "[[monitors]]\nname = \"Homepage\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{up}/\"\n\n\
         [[monitors]]\nname = \"Checkout API\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {down}\nalert_after = 1\n\n\
         [[status_pages]]\nslug = \"acme\"\ntitle = \"Acme status\"\nmonitors = [\"Homepage\", \"Checkout API\"]\n"
    ));
    // Config monitors take their first check at once on start.
    s.wait_for("both monitors checked", Duration::from_secs(30), || {
        let (_, v) = s.get("/api/v1/monitors");
        let states: Vec<String> = v
            .as_array()?
            .iter()
            .map(|m| {
                m["status"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        (states.iter().any(|x| x == "up") && states.iter().any(|x| x == "down")).then_some(())
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start_with_javascript("status-browser", false).await;
        b.goto(&format!("{}/status/acme", s.url)).await;
        let page = b.source().await;
        b.screenshot("status-page-no-js").await;
        let row = |name: &str| {
            let at = page
                .find(name)
                .unwrap_or_else(|| panic!("{name} missing:\n{page}"));
            page[at..].chars().take(300).collect::<String>()
        };
        assert!(
            row("Homepage").contains("Operational"),
            "{}",
            row("Homepage")
        );
        assert!(
            row("Checkout API").contains("Outage"),
            "{}",
            row("Checkout API")
        );
        assert!(page.contains("Some systems are down"), "{page}");
        // The viewer's local time is added by script only: its absence proves the page
        // above was read with JavaScript off.
        assert!(page.contains("Times are in UTC"), "{page}");
        assert!(
            !page.contains("<span class=\"local\">"),
            "JavaScript ran: {page}"
        );
        b.close().await;

        let b = Browser::start("status-browser").await;
        b.goto(&format!("{}/status/acme", s.url)).await;
        // With JavaScript on, the viewer's own time is added beside the UTC times.
        let local = b.find("span.local").await.text().await.unwrap();
        assert!(local.contains("your time"), "{local}");
        b.screenshot("status-page").await;
        let violations = b.axe().await;
        assert!(
            violations.is_empty(),
            "serious or critical accessibility violations: {}",
            serde_json::to_string_pretty(&violations).unwrap()
        );
        // On a phone the uptime bars, groups and incident history fit the window.
        b.resize(390, 844).await;
        b.goto(&format!("{}/status/acme", s.url)).await;
        b.find("span.local").await;
        b.assert_fits("status-page-phone", 400).await;
        b.close().await;
    });
}
