//! Recorded playback against the real daemon recording the `/clock` test camera (each frame
//! carries its capture time, `tests/src/clockcode.rs`):
//! - the test camera's code read by both readers (ffmpeg frames in Rust, a `<video>` in
//!   headless Chromium);
//! - `GET /api/cameras/{name}/play` over raw HTTP: ffprobe decodes the whole stream; every
//!   frame's media time plus `X-Porchlight-Origin` is its capture time (within 1 s), across
//!   segment boundaries and a gap (the camera stopped and started again), which stays a gap;
//!   bad `from` 400, unknown camera 404, a time with no recording 404;
//! - the Recordings page's player in headless Chromium: a click on the timeline shows the frame
//!   recorded at that moment (its clock code against the player's time, within 1 s), playback
//!   crosses 1 s segments, a gap is skipped and named and the frames after it are right, 2×
//!   moves media time faster than the wall clock. Screenshots in
//!   `target/screenshots/player_plays_across_segments_and_gaps_at_the_recorded_time/`.
//! - `bench_playback_latency` (ignored; `bench/playback.sh`): click-to-first-frame and seeks.

#![allow(clippy::print_stderr)]

use porchlight_e2e::browser::Browser;
use porchlight_e2e::clockcode::{self, now_ms};
use porchlight_e2e::media::{self, run_tool};
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, EventStream, Setup, web};
use serde_json::{Value, json};

/// How far a frame's capture time may lie from the host clock around its reading.
const SLACK_MS: u64 = 5_000;

#[test]
fn clock_code_reads_the_camera_clock() {
    let Some(server) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let before = now_ms();
    let Some(codes) = clockcode::frames(&["-rtsp_transport", "tcp"], &server.url("clock"), 320, 240, 30)
    else {
        return;
    };
    let after = now_ms();
    assert_eq!(codes.len(), 30, "frames decoded");
    let codes: Vec<u64> = codes.into_iter().map(|c| c.expect("every frame carries a code")).collect();
    for &c in &codes {
        assert!(c + SLACK_MS >= before && c <= after, "code {c} outside [{before}, {after}]");
    }
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "codes increase frame to frame: {codes:?}");
    // 30 frames at 15 fps span about two seconds.
    let span = codes[29] - codes[0];
    assert!((1_500..=2_500).contains(&span), "30 frames span {span} ms");
}

#[test]
fn clock_code_reads_in_the_browser() {
    let Some(server) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let Some(browser) = Browser::start("clock_code_reads_in_the_browser") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clock.mp4");
    let file_arg = file.display().to_string();
    let before = now_ms();
    let Some(out) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &server.url("clock"),
            "-frames:v",
            "30",
            "-c",
            "copy",
            "-y",
            &file_arg,
        ],
    ) else {
        return;
    };
    assert!(out.status.success(), "ffmpeg: {}", porchlight_e2e::output_text(&out));
    let after = now_ms();
    // The same frames through the Rust reader, to compare with.
    let rust = clockcode::frames(&[], &file_arg, 320, 240, 30).expect("ffmpeg");

    let bytes = std::fs::read(&file).expect("clip");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    browser.goto("about:blank");
    browser.execute_async(
        "const [b64, done] = arguments;
         const bin = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
         const v = document.createElement('video');
         v.muted = true;
         v.id = 'clip';
         document.body.append(v);
         v.addEventListener('loadeddata', () => done(true), { once: true });
         v.src = URL.createObjectURL(new Blob([bin], { type: 'video/mp4' }));",
        &[json!(b64)],
    );
    let video = browser.find("#clip");
    let mut codes = Vec::new();
    for t in [0.0, 1.0] {
        browser.execute_async(
            "const [v, t, done] = arguments;
             v.addEventListener('seeked', () => done(true), { once: true });
             v.currentTime = t;",
            &[video.to_arg(), json!(t)],
        );
        let code = browser.execute(clockcode::JS, &[video.to_arg()]);
        codes.push(code.as_u64().unwrap_or_else(|| panic!("the frame at {t} s carries a code: {code}")));
    }
    for &c in &codes {
        assert!(c + SLACK_MS >= before && c <= after, "code {c} outside [{before}, {after}]");
    }
    assert!(codes[0] < codes[1], "codes increase: {codes:?}");
    // The first frame reads the same in both readers.
    assert_eq!(Some(codes[0]), rust[0], "browser and ffmpeg read the first frame alike");
    browser.assert_no_console_errors();
}

/// How long the camera is away in the gap tests.
const OUTAGE: std::time::Duration = std::time::Duration::from_secs(3);

/// How far a frame's recorded time may lie from its capture time (the recorder anchors the
/// stream to the hub's clock on arrival).
const ANCHOR_SLACK_MS: i64 = 1_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).expect("time").to_string()
}

fn parse_ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{text:?}: {e}")).as_millisecond()
}

/// A daemon recording camera `door` from the test camera's `/clock` in 1 s segments.
fn clock_setup(camera: &RtspServer) -> Setup {
    Setup::new(&format!(
        "[storage]\nsegment_duration = \"1s\"\nmin_free_bytes = \"0 B\"\n\n\
         [[camera]]\nname = \"door\"\nrtsp_url = {:?}\n",
        camera.url("clock")
    ))
}

/// Waits for `n` `segment_closed` events of camera `door`. The `/clock` camera draws its frames
/// in Python, which falls behind when the other tests of this file load the machine: each
/// segment gets three times the usual wait.
fn wait_segments(events: &mut EventStream, n: usize) {
    for _ in 0..n {
        events.next_matching_within(porchlight_e2e::WAIT * 3, |e| {
            e["type"] == "segment_closed" && e["camera"] == "door"
        });
    }
}

/// `pts_time` of every video frame ffprobe decodes from `url` (decoding all of it).
fn frame_times(url: &str) -> Vec<f64> {
    let out = run_tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "json", url],
    )
    .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {url}: {}", porchlight_e2e::output_text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| f["pts_time"].as_str().and_then(|t| t.parse().ok()).expect("pts_time"))
        .collect()
}

#[test]
fn play_streams_the_recording_on_its_wall_clock() {
    let Some(mut camera) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let port = camera.port().to_string();
    let setup = clock_setup(&camera);
    let d = Daemon::start(&setup.config);
    let addr = d.addr.expect("API address");
    let mut events = EventStream::from_start(addr, None);
    wait_segments(&mut events, 3);
    // The camera goes away and comes back: a gap in the recording.
    camera.stop();
    events.next_matching(|e| e["type"] == "camera_offline" && e["camera"] == "door");
    // Not a wait for something: the outage itself, long enough to tell from a late frame.
    std::thread::sleep(OUTAGE);
    let _camera = RtspServer::start_with(&["--port", &port]).expect("the camera starts again");
    events.next_matching(|e| e["type"] == "camera_online" && e["camera"] == "door");
    wait_segments(&mut events, 3);

    let listing = d.get_json("/api/recordings?camera=door");
    let segments = listing["segments"].as_array().expect("segments");
    let gaps = listing["gaps"].as_array().expect("gaps");
    assert!(!gaps.is_empty(), "the outage is a gap: {listing}");
    let gap = (gaps[0]["start_ms"].as_i64().expect("ms"), gaps[0]["end_ms"].as_i64().expect("ms"));
    let first = segments[0]["start_ms"].as_i64().expect("ms");
    let closed_end = segments
        .iter()
        .filter(|s| s["state"] != "open")
        .filter_map(|s| s["end_ms"].as_i64())
        .max()
        .expect("closed segments");
    // From half a second into the recording to the end of the last closed segment.
    let from = first + 500;
    let path = format!("/api/cameras/door/play?from={}&to={}", rfc3339(from), rfc3339(closed_end));
    let resp = web::request(addr, "GET", &path, &[], None);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("content-type"), Some("video/mp4"));
    assert!(
        resp.header("x-porchlight-codec").is_some_and(|c| c.starts_with("video/mp4; codecs=\"avc1.")),
        "{:?}",
        resp.headers
    );
    let origin = parse_ms(resp.header("x-porchlight-origin").expect("origin header"));
    assert!((first..=from).contains(&origin), "origin {origin} is the keyframe at or before {from}");
    assert_eq!(parse_ms(resp.header("x-porchlight-end").expect("end header")), closed_end);

    // ffprobe decodes the whole stream, and each frame's media time puts it at its capture time.
    let url = format!("http://{addr}{path}");
    let times = frame_times(&url);
    let codes = clockcode::frames(&[], &url, 320, 240, times.len() + 1).expect("ffmpeg");
    assert_eq!(codes.len(), times.len(), "ffmpeg and ffprobe decode the same frames");
    let mut jumped = false;
    for (i, (t, code)) in times.iter().zip(&codes).enumerate() {
        let code = i64::try_from(code.unwrap_or_else(|| panic!("frame {i} carries a code"))).expect("ms");
        let wall = origin + (t * 1000.0).round() as i64;
        assert!(
            (wall - code).abs() <= ANCHOR_SLACK_MS,
            "frame {i}: media time {t} s puts it at {wall}, its clock says {code} (origin {origin})"
        );
        if i > 0 && times[i] - times[i - 1] >= OUTAGE.as_secs_f64() {
            jumped = true;
        }
    }
    assert!(jumped, "the gap {gap:?} is a jump in media time: {times:?}");
    // The stream crossed segment boundaries: it spans more than the first segment.
    let last = times.last().copied().unwrap_or(0.0);
    let first_end = segments[0]["end_ms"].as_i64().expect("ms");
    assert!(origin + (last * 1000.0) as i64 > first_end + 3000, "{last} s of media from {origin}");

    // Without `to`, the stream runs to the live edge (the segment being written, read to its
    // last fragment on disk) and ends there, whole.
    let live = web::request(
        addr,
        "GET",
        &format!("/api/cameras/door/play?from={}", rfc3339(closed_end - 1500)),
        &[],
        None,
    );
    assert_eq!(live.status, 200, "{}", live.body);

    // Refusals.
    let get = |p: &str| web::request(addr, "GET", p, &[], None);
    assert_eq!(get("/api/cameras/door/play?from=yesterday").status, 400);
    assert_eq!(get("/api/cameras/door/play").status, 400);
    let r = get(&format!("/api/cameras/nope/play?from={}", rfc3339(from)));
    assert_eq!(r.status, 404, "{}", r.body);
    let r = get("/api/cameras/door/play?from=2001-01-01T00:00:00Z&to=2001-01-01T01:00:00Z");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("no recording")), "{}", r.body);
    let r = get(&format!("/api/cameras/door/play?from={}", rfc3339(now_ms() as i64 + 3_600_000)));
    assert_eq!(r.status, 404, "{}", r.body);
}

/// A hub recording `/clock` in 1 s segments with an outage in the middle, and a browser.
struct Hub {
    // Dropped in this order: browser, daemon, camera.
    browser: Browser,
    daemon: Daemon,
    _setup: Setup,
    _camera: RtspServer,
    /// The day's listing once recorded (`GET /api/recordings?camera=door`).
    listing: Value,
}

impl Hub {
    /// Records `before` segments, stops the camera for [`OUTAGE`], records `after` more.
    fn start(test: &str, before: usize, after: usize) -> Option<Self> {
        let mut camera = RtspServer::start()?;
        if !media::available() {
            return None;
        }
        let browser = Browser::start(test)?;
        let port = camera.port().to_string();
        let setup = clock_setup(&camera);
        let daemon = Daemon::start(&setup.config);
        let mut events = EventStream::from_start(daemon.addr.expect("API address"), None);
        wait_segments(&mut events, before);
        if after > 0 {
            camera.stop();
            events.next_matching(|e| e["type"] == "camera_offline" && e["camera"] == "door");
            // Not a wait for something: the outage itself.
            std::thread::sleep(OUTAGE);
            camera = RtspServer::start_with(&["--port", &port]).expect("the camera starts again");
            events.next_matching(|e| e["type"] == "camera_online" && e["camera"] == "door");
            wait_segments(&mut events, after);
        }
        let listing = daemon.get_json("/api/recordings?camera=door");
        Some(Self { browser, daemon, _setup: setup, _camera: camera, listing })
    }

    fn segment(&self, i: usize) -> (i64, i64) {
        let s = &self.listing["segments"][i];
        (s["start_ms"].as_i64().expect("ms"), s["end_ms"].as_i64().expect("ms"))
    }

    fn gap(&self) -> Option<(i64, i64)> {
        let g = self.listing["gaps"].as_array()?.first()?;
        Some((g["start_ms"].as_i64()?, g["end_ms"].as_i64()?))
    }

    /// Opens the Recordings page, zoomed to the hour of the first recording.
    fn open_recordings(&self) {
        let b = &self.browser;
        b.goto(&format!("http://{}/#/recordings", self.daemon.addr.expect("API address")));
        b.wait_for("main[data-page=\"/recordings\"]");
        b.wait_for("#day[data-camera=\"door\"]");
        let first = self.segment(0).0;
        b.execute(
            "const sel = document.getElementById('rec-zoom');
             sel.value = String(new Date(arguments[0]).getHours()).padStart(2, '0');
             sel.dispatchEvent(new Event('change', { bubbles: true }));",
            &[json!(first)],
        );
        b.wait_until("the timeline zoomed to the hour", porchlight_e2e::WAIT, |b| {
            let start = b.find("#timeline").attr("data-view-start")?.parse::<i64>().ok()?;
            (start <= first && first < start + 3_600_000).then_some(())
        });
    }

    /// Presses and lets go on the timeline where it shows wall time `at` (ms), as a click.
    fn click_timeline(&self, at: i64) {
        self.browser.execute(
            "const svg = document.getElementById('timeline');
             const r = svg.getBoundingClientRect();
             const a = Number(svg.dataset.viewStart), z = Number(svg.dataset.viewEnd);
             const x = r.left + (arguments[0] - a) / (z - a) * r.width;
             const y = r.top + r.height / 2;
             for (const type of ['pointerdown', 'pointerup']) {
               svg.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, bubbles: true, button: 0 }));
             }",
            &[json!(at)],
        );
    }

    fn state(&self) -> String {
        self.browser.find("#player").attr("data-state").unwrap_or_default()
    }

    fn wait_state(&self, state: &str) {
        self.browser.wait_for(&format!("#player[data-state=\"{state}\"]"));
    }

    /// The wall time the player shows (origin + the video's current time), in ms.
    fn wall(&self) -> i64 {
        let v = self.browser.execute(
            "const v = document.getElementById('rec-video');
             return v.dataset.originMs ? Number(v.dataset.originMs) + v.currentTime * 1000 : null;",
            &[],
        );
        v.as_f64().map(|w| w.round() as i64).unwrap_or(0)
    }

    /// Pauses, then compares the clock code of the frame showing with the player's time: the
    /// frame shown is the one recorded at that moment. Returns the player's time.
    fn check_frame(&self, what: &str) -> i64 {
        let b = &self.browser;
        if self.state() == "playing" {
            b.find("#play-pause").click();
        }
        self.wait_state("paused");
        let video = b.find("#rec-video");
        // The frame for the current time is on screen once the video has it decoded.
        b.wait_until("the paused frame", porchlight_e2e::WAIT, |b| {
            b.execute("return arguments[0].readyState >= 2 && !arguments[0].seeking;", &[video.to_arg()])
                .as_bool()
                .filter(|ok| *ok)
        });
        let code = b.execute(clockcode::JS, &[video.to_arg()]);
        let code = code.as_i64().unwrap_or_else(|| panic!("{what}: the shown frame carries a code: {code}"));
        let wall = self.wall();
        assert!(
            (code - wall).abs() <= ANCHOR_SLACK_MS,
            "{what}: the player says {wall}, the frame was captured at {code}"
        );
        // The timeline's playhead says the same.
        b.wait_until("the playhead at the player's time", porchlight_e2e::WAIT, |b| {
            let at = b.find("#tl-playhead").attr("data-at")?.parse::<i64>().ok()?;
            ((at - wall).abs() <= 250).then_some(())
        });
        wall
    }

    fn play(&self) {
        self.browser.find("#play-pause").click();
        self.wait_state("playing");
    }

    /// Plays until the player's time passes `at`.
    fn play_past(&self, what: &str, at: i64) {
        self.browser.wait_until(what, porchlight_e2e::WAIT, |b| {
            let wall = b.find("#player").attr("data-wall-ms")?.parse::<i64>().ok()?;
            (wall > at).then_some(())
        });
    }
}

#[test]
fn player_plays_across_segments_and_gaps_at_the_recorded_time() {
    let Some(hub) = Hub::start("player_plays_across_segments_and_gaps_at_the_recorded_time", 4, 4) else {
        return;
    };
    let b = &hub.browser;
    let (gap_start, gap_end) = hub.gap().unwrap_or_else(|| panic!("the outage is a gap: {}", hub.listing));
    hub.open_recordings();
    b.screenshot("idle");

    // A click on the timeline plays from that moment: the frame shown was captured then.
    let (first, first_end) = hub.segment(0);
    let clicked = first + 1_500;
    hub.click_timeline(clicked);
    hub.wait_state("playing");
    let at = hub.check_frame("from the click");
    assert!((at - clicked).abs() <= ANCHOR_SLACK_MS, "clicked {clicked}, playing from {at}");
    b.screenshot("playing-from-click");

    // 2× plays faster: more media time passes than wall time.
    b.find("#rate-2").click();
    hub.play();
    let moved = b.execute_async(
        "const [done] = arguments;
         const v = document.getElementById('rec-video');
         const t0 = performance.now(), m0 = v.currentTime;
         setTimeout(() => done([performance.now() - t0, (v.currentTime - m0) * 1000]), 1000);",
        &[],
    );
    let (wall_ms, media_ms) = (moved[0].as_f64().expect("wall"), moved[1].as_f64().expect("media"));
    assert!(media_ms > wall_ms, "at 2×, {media_ms} ms of media in {wall_ms} ms");
    assert_eq!(b.find("#player").attr("data-rate").as_deref(), Some("2"));

    // On across segment boundaries.
    hub.play_past("playback past the first segments", first_end + 2_000);
    hub.check_frame("after segment boundaries");
    hub.play();

    // The gap is skipped and named, and playback goes on after it with the right frames.
    hub.play_past("playback past the gap", gap_end + 1_000);
    let notice = b.find("#gap-notice");
    let from: i64 = notice.attr("data-from").and_then(|v| v.parse().ok()).expect("data-from");
    let to: i64 = notice.attr("data-to").and_then(|v| v.parse().ok()).expect("data-to");
    assert!(
        from <= gap_start + ANCHOR_SLACK_MS && to >= gap_end - ANCHOR_SLACK_MS,
        "skipped {from}..{to}, the gap is {gap_start}..{gap_end}"
    );
    assert!(notice.text().starts_with("No recording"), "{}", notice.text());
    b.screenshot("gap-skipped");
    hub.check_frame("after the gap");
    // The timeline and the player together, for docs/ui.md.
    b.set_viewport(1280, 1150, false);
    b.execute("document.getElementById('day').scrollIntoView()", &[]);
    b.screenshot("player");
    b.clear_viewport();
    b.assert_no_console_errors();
}

/// Median, 90th percentile and maximum of `v` (sorted in place).
fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.9), at(1.0))
}

/// `bench/playback.sh`: in headless Chromium against the daemon recording `/clock`, how long
/// from a click on the timeline to the first frame shown (a new stream), and how long a seek
/// takes within what is buffered and to a moment that is not (a new stream). Prints the
/// numbers; asserts nothing about them.
#[test]
#[ignore = "a benchmark: bench/playback.sh"]
fn bench_playback_latency() {
    let rounds: usize =
        std::env::var("PLAYBACK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(10);
    let Some(hub) = Hub::start("bench_playback_latency", 20, 0) else { return };
    let b = &hub.browser;
    let start = hub.segment(0).0;
    let (mut click, mut far, mut near) = (Vec::new(), Vec::new(), Vec::new());
    // From a press on the timeline to the first frame of the new stream on screen (the player
    // notes it with requestVideoFrameCallback), timed in the page.
    let click_to_frame = |at: i64| -> f64 {
        let v = b.execute_async(
            "const [at, done] = arguments;
             const svg = document.getElementById('timeline');
             const v = document.getElementById('rec-video');
             const r = svg.getBoundingClientRect();
             const a = Number(svg.dataset.viewStart), z = Number(svg.dataset.viewEnd);
             const x = r.left + (at - a) / (z - a) * r.width, y = r.top + r.height / 2;
             const t0 = performance.now();
             for (const type of ['pointerdown', 'pointerup']) {
               svg.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, bubbles: true, button: 0 }));
             }
             const poll = () => v.dataset.firstFrameMs ? done(performance.now() - t0) : setTimeout(poll, 2);
             poll();",
            &[json!(at)],
        );
        v.as_f64().expect("first frame time")
    };
    for i in 0..rounds {
        // A fresh page each round (nothing buffered), then a click far into the recording: a
        // new stream.
        b.refresh();
        hub.open_recordings();
        let late = start + 12_000 + (i as i64 % 4) * 1_000;
        click.push(click_to_frame(late));
        b.wait_until("the stream buffered 5 s ahead", porchlight_e2e::WAIT, |b| {
            let v = b.execute(
                "const v = document.getElementById('rec-video'), b = v.buffered;
                 return b.length ? Number(v.dataset.originMs) + b.end(b.length - 1) * 1000 : 0;",
                &[],
            );
            (v.as_f64()? > (late + 5_000) as f64).then_some(())
        });
        // A seek within what is buffered (the stream reads ahead): no new request.
        let v = b.execute_async(
            "const [at, done] = arguments;
             const svg = document.getElementById('timeline');
             const v = document.getElementById('rec-video');
             const r = svg.getBoundingClientRect();
             const a = Number(svg.dataset.viewStart), z = Number(svg.dataset.viewEnd);
             const x = r.left + (at - a) / (z - a) * r.width, y = r.top + r.height / 2;
             const t0 = performance.now();
             v.addEventListener('seeked', () => v.requestVideoFrameCallback(() => done(performance.now() - t0)), { once: true });
             for (const type of ['pointerdown', 'pointerup']) {
               svg.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, bubbles: true, button: 0 }));
             }",
            &[json!(late + 4_000)],
        );
        near.push(v.as_f64().expect("seek time"));
        // A seek back before this stream's origin (not buffered): a new stream.
        far.push(click_to_frame(start + 1_000 + (i as i64 % 4) * 1_000));
    }
    let (c50, c90, cmax) = percentiles(&mut click);
    let (n50, n90, nmax) = percentiles(&mut near);
    let (f50, f90, fmax) = percentiles(&mut far);
    eprintln!("BENCH rounds {rounds}");
    eprintln!(
        "BENCH click to first frame (new stream): median {c50:.0} ms, p90 {c90:.0} ms, max {cmax:.0} ms"
    );
    eprintln!("BENCH seek within the buffer: median {n50:.0} ms, p90 {n90:.0} ms, max {nmax:.0} ms");
    eprintln!(
        "BENCH seek outside the buffer (new stream): median {f50:.0} ms, p90 {f90:.0} ms, max {fmax:.0} ms"
    );
    b.assert_no_console_errors();
}
