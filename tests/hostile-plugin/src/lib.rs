//! A hostile policy for the host's tests. It behaves (denies) for the load-time conformance
//! request, and misbehaves as `mode` says for requests whose reason is "attack" — or for every
//! request when `always` is set, so that loading it fails.

use porchlight_sdk::*;

pub struct Hostile;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: String,
    #[serde(default)]
    pub always: bool,
}

fn recurse(n: u64, pad: [u64; 64]) -> u64 {
    let mut p = std::hint::black_box(pad);
    p[(n % 64) as usize] = n;
    if n == 0 { p[0] } else { recurse(n - 1, p).wrapping_add(p[(n % 7) as usize]) }
}

impl Policy for Hostile {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        const MODES: &[&str] = &[
            "allow",
            "loop",
            "recurse",
            "oom",
            "panic",
            "huge-string",
            "escalate-camera",
            "escalate-time",
            "escalate-live",
            "bad-ask",
            "ask-briefly",
            "log-flood",
            "empty-grant",
            "remember",
            "log-empty",
            "slow-check",
        ];
        // A megabyte of error text: the host must not carry it around whole.
        if config.mode == "huge-config-error" {
            return Err("e".repeat(1 << 20));
        }
        // Spends a few milliseconds here, once, when it loads (well within the fuel limit).
        if config.mode == "slow-check" {
            let mut i: u64 = 0;
            while std::hint::black_box(i) < 2_000_000 {
                i += 1;
            }
        }
        if MODES.contains(&config.mode.as_str()) {
            Ok(())
        } else {
            Err(format!("unknown mode {:?}", config.mode))
        }
    }

    fn decide(config: &Config, request: &Request, _context: &Context) -> Decision {
        if !config.always && request.reason != "attack" {
            return Decision::Deny("behaving".into());
        }
        match config.mode.as_str() {
            "allow" => Decision::Allow(Grant::everything(request)),
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "recurse" => Decision::Deny(format!("{}", recurse(u64::MAX, [0; 64]))),
            "oom" => {
                let v: Vec<u8> = vec![1; 100 << 20];
                Decision::Deny(format!("{}", std::hint::black_box(v).len()))
            }
            "panic" => panic!("hostile plugin panics"),
            "huge-string" => Decision::Deny("x".repeat(4 << 20)),
            "escalate-camera" => {
                let mut g = Grant::everything(request);
                g.cameras.push("kitchen".into());
                Decision::Allow(g)
            }
            "escalate-time" => {
                let mut g = Grant::everything(request);
                if let Some(r) = g.range.as_mut() {
                    r.start -= 86_400;
                }
                Decision::Allow(g)
            }
            "escalate-live" => {
                let mut g = Grant::everything(request);
                g.live_max_seconds = Some(g.live_max_seconds.unwrap_or(0) + 3600);
                Decision::Allow(g)
            }
            "bad-ask" => Decision::Ask(Ask { prompt: "ok?".into(), timeout_seconds: 0 }),
            // Not hostile: an ask whose timeout a test can wait out.
            "ask-briefly" => Decision::Ask(Ask { prompt: "a quick question".into(), timeout_seconds: 2 }),
            "log-flood" => {
                for i in 0..100_000 {
                    log(LogLevel::Info, &format!("flood {i} {}", "y".repeat(100)));
                }
                Decision::Allow(Grant::everything(request))
            }
            // Tries to carry state from one request to the next: a counter in a static, and a
            // heap block that stays allocated. A fresh instance per call sees neither.
            "remember" => {
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let kept: &'static mut String = Box::leak(Box::new(format!("request {}", request.id)));
                Decision::Deny(format!("call {n}; kept {:?} at {:p}", kept, kept.as_ptr()))
            }
            // Empty log lines cost the hub a line each, however short.
            "log-empty" => {
                for _ in 0..10_000 {
                    log(LogLevel::Info, "");
                }
                Decision::Allow(Grant::everything(request))
            }
            "empty-grant" => Decision::Allow(Grant { cameras: vec![], ..Grant::everything(request) }),
            _ => Decision::Deny("unknown mode".into()),
        }
    }
}

porchlight_sdk::export_policy!(Hostile);
