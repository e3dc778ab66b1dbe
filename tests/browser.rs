//! The `--html` page in a real browser: headless Chromium renders it from a file:// URL with
//! no network, and the screenshot holds the charts' colours (the ledger's green bar, the
//! timeline's bars). Skips, saying why, without Chromium, unless `DYNOPROBE_BROWSER=require`
//! (CI sets it).
#![cfg(feature = "cli")]

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

/// The ledger's colour for time on the CPU (`render::charts`).
const ON_CPU: [u8; 3] = [0x2c, 0xa0, 0x2c];

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The screenshot's pixels as RGB(A) rows, and its width and height.
fn pixels(png: &Path) -> (Vec<u8>, u32, u32, usize) {
    let bytes = std::fs::read(png).expect("the screenshot");
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    buf.truncate(info.buffer_size());
    (buf, info.width, info.height, channels)
}

#[test]
fn the_page_renders_its_charts_in_headless_chromium() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var("DYNOPROBE_BROWSER").as_deref() != Ok("require"),
            "DYNOPROBE_BROWSER=require but no chromium found"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("dynoprobe-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("jitter.html");
    let out = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .args(["jitter", "--duration", "1s", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let png = dir.join("jitter.png");
    let shot = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=800,900",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let (rgb, width, height, channels) = pixels(&png);
    assert_eq!((width, height), (800, 900));
    let green = rgb.chunks(channels).filter(|p| p[..3] == ON_CPU).count();
    // The ledger's legend key for time on the CPU is a 10×10 square drawn whatever was
    // measured (the bar adds more): without it, the SVG did not render.
    assert!(
        green >= 100,
        "{green} pixels of the on-CPU green: the SVG did not render"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
