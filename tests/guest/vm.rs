//! A throw-away VM for the cgroup v2 scenarios: Debian's kernel, an initramfs of
//! busybox-static, the dynoprobe binary and the libraries it links, and `init.sh` as `/init`;
//! booted under qemu with TCG (nested KVM hangs at boot on this host), its serial console
//! read back. Nothing is left behind but the kernel, cached under `target/`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian packages the guest is built from.
const PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static", "cpio"];
/// The busybox that `busybox-static` installs.
const BUSYBOX: &str = "/bin/busybox";
/// util-linux's `unshare`, for `-C` (a cgroup namespace), which busybox's lacks; copied in
/// with its libraries.
const UNSHARE: &str = "/usr/bin/unshare";
/// Where a static dynoprobe's guest keeps `unshare` and its libraries, run through their own
/// loader: the guest's `/lib` and `/lib64` stay empty, so the binary runs with no library.
const UNSHARE_ALONE: &str = "opt/unshare";
/// Booting and running every scenario takes about 40 s under TCG here; past this, the guest
/// is taken to have hung.
const DEADLINE: Duration = Duration::from_secs(240);
/// What `init.sh` prints once every scenario ran.
const DONE: &str = "@@guest done@@";

/// Why the guest could not be run here.
pub type Skip = String;

/// Runs the scenarios of `init.sh` in a fresh guest with `binary` as `dynoprobe`; returns
/// everything the guest printed on its console.
pub fn run(binary: &Path) -> Result<String, Skip> {
    tools()?;
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-kernel");
    let (kernel, config) = kernel(&cache)?;
    let scratch = Scratch::new()?;
    let initrd = initramfs(&scratch.0, binary, &config)?;
    boot(&kernel, &initrd).or_else(|first| {
        // Once in CI (guest kernel 6.1.0-56) CPU 0 locked up in the guest's kernel for the
        // whole deadline during `no-quota`; not seen in 34 boots here since, with 30 of
        // those spins in a row and under host load. The guest now panics on a soft lockup
        // (`softlockup_panic=1`), which prints the kernel's backtrace, and boots afresh once.
        eprintln!("guest: the first boot failed, booting a fresh guest once:\n{first}");
        boot(&kernel, &initrd)
    })
}

/// Runs `command`; its stdout, or why it failed.
fn output(command: &mut Command) -> Result<String, Skip> {
    let out = command
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sh(script: &str) -> Result<String, Skip> {
    output(Command::new("sh").arg("-c").arg(script))
}

fn have(program: &str) -> bool {
    sh(&format!("command -v {program}")).is_ok()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// qemu, busybox-static and cpio, installed with apt when missing and we are root.
fn tools() -> Result<(), Skip> {
    let ready = || have("qemu-system-x86_64") && Path::new(BUSYBOX).exists() && have("cpio");
    if ready() {
        return Ok(());
    }
    if !is_root() || !have("apt-get") {
        return Err(format!(
            "needs {} (install them, or run as root with apt-get)",
            PACKAGES.join(", ")
        ));
    }
    let install = format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {} < /dev/null",
        PACKAGES.join(" ")
    );
    sh(&install)
        .or_else(|_| sh(&format!("apt-get update -qq && {install}")))
        .map_err(|e| format!("cannot install {}: {e}", PACKAGES.join(", ")))?;
    if !ready() {
        return Err(format!("{} installed, but not found", PACKAGES.join(", ")));
    }
    Ok(())
}

/// Debian's kernel image (the package `linux-image-amd64` depends on) and its build
/// configuration (which the guest finds at `/boot/config-$(uname -r)`, as on any Debian
/// system), downloaded once into `cache`.
fn kernel(cache: &Path) -> Result<(PathBuf, PathBuf), Skip> {
    let cached_one = |prefix: &str| -> Option<PathBuf> {
        std::fs::read_dir(cache)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
    };
    let cached = || Some((cached_one("vmlinuz-")?, cached_one("config-")?));
    if let Some(kernel) = cached() {
        return Ok(kernel);
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let depends = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let package = depends
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
        .map(|version| format!("linux-image-{version}"))
        .ok_or("apt-cache names no kernel package for linux-image-amd64 (run apt-get update)")?;
    let dir = cache.display();
    sh(&format!(
        "cd {dir} && apt-get download -qq {package} 2>/dev/null \
         && dpkg-deb --fsys-tarfile {package}_*.deb | tar -x --strip-components=2 --wildcards './boot/vmlinuz-*' './boot/config-*' \
         ; rm -f {package}_*.deb"
    ))?;
    cached().ok_or(format!("no vmlinuz and config in {package}"))
}

/// A scratch directory under `target/`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Skip> {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("guest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root/bin"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies `from` to the same path under `root`.
fn copy_into(root: &Path, from: &Path) -> Result<(), Skip> {
    let to = root.join(from.strip_prefix("/").unwrap_or(from));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::copy(from, &to)
        .map(drop)
        .map_err(|e| format!("cannot copy {} into the initramfs: {e}", from.display()))
}

/// Whether `binary` loads no library: `ldd` says "statically linked" (a static PIE) or "not
/// a dynamic executable".
pub fn is_static(binary: &Path) -> Result<bool, Skip> {
    let out = (Command::new("ldd").arg(binary).output())
        .map_err(|e| format!("cannot run ldd {}: {e}", binary.display()))?;
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    Ok(said.contains("statically linked") || said.contains("not a dynamic executable"))
}

/// The libraries `ldd` says `binary` loads, the dynamic loader among them.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>, Skip> {
    let ldd = output(Command::new("ldd").arg(binary))?;
    Ok(ldd
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, after)) => after.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The gzipped cpio initramfs: busybox, `binary` as /bin/dynoprobe, util-linux's unshare,
/// their libraries, the kernel's `config` under /boot, and /init. A static `binary` gets no
/// library: unshare's go apart with it ([`UNSHARE_ALONE`]).
fn initramfs(scratch: &Path, binary: &Path, config: &Path) -> Result<PathBuf, Skip> {
    let root = scratch.join("root");
    let boot = root.join("boot");
    std::fs::create_dir_all(&boot).map_err(|e| e.to_string())?;
    std::fs::copy(config, boot.join(config.file_name().unwrap_or_default()))
        .map_err(|e| format!("cannot copy {}: {e}", config.display()))?;
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    std::fs::copy(binary, root.join("bin/dynoprobe")).map_err(|e| e.to_string())?;
    if is_static(binary)? {
        unshare_alone(&root)?;
    } else {
        copy_into(&root, Path::new(UNSHARE))?;
        for library in libraries(binary)?
            .into_iter()
            .chain(libraries(Path::new(UNSHARE))?)
        {
            copy_into(&root, &library)?;
        }
    }
    let init = root.join("init");
    std::fs::write(&init, include_str!("init.sh")).map_err(|e| e.to_string())?;
    sh(&format!("chmod 755 {}", init.display()))?;
    let initrd = scratch.join("initrd.gz");
    sh(&format!(
        "cd {} && find . | cpio -o -H newc --quiet | gzip -1 > {}",
        root.display(),
        initrd.display()
    ))?;
    Ok(initrd)
}

/// `unshare` and its libraries in [`UNSHARE_ALONE`], and a `/usr/bin/unshare` that runs it
/// through its own loader: nothing in the standard library directories.
fn unshare_alone(root: &Path) -> Result<(), Skip> {
    let alone = root.join(UNSHARE_ALONE);
    std::fs::create_dir_all(&alone).map_err(|e| e.to_string())?;
    let mut loader = None;
    for library in libraries(Path::new(UNSHARE))? {
        let name = library.file_name().unwrap_or_default().to_owned();
        if name.to_string_lossy().starts_with("ld-linux") {
            loader = Some(name.clone());
        }
        std::fs::copy(&library, alone.join(&name))
            .map_err(|e| format!("cannot copy {}: {e}", library.display()))?;
    }
    let loader = loader.ok_or(format!("ldd {UNSHARE} names no ld-linux loader"))?;
    std::fs::copy(UNSHARE, alone.join("unshare")).map_err(|e| e.to_string())?;
    let wrapper = root.join(UNSHARE.trim_start_matches('/'));
    std::fs::create_dir_all(wrapper.parent().unwrap_or(root)).map_err(|e| e.to_string())?;
    let dir = format!("/{UNSHARE_ALONE}");
    let loader = loader.to_string_lossy();
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {dir}/{loader} --library-path {dir} {dir}/unshare \"$@\"\n"),
    )
    .map_err(|e| e.to_string())?;
    sh(&format!("chmod 755 {}", wrapper.display())).map(drop)
}

/// A running qemu, killed when dropped.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots the guest and returns its console output once it powers off.
fn boot(kernel: &Path, initrd: &Path) -> Result<String, Skip> {
    // An invariant TSC, trusted (`tsc=reliable`): without it the guest marks its TSC unstable,
    // falls back to the HPET (a VM exit per clock read), and its scheduler clock drifts from
    // CLOCK_MONOTONIC, so the spin's gaps and the kernel's counters no longer line up. A CPU
    // stuck in the kernel panics the guest at once (`softlockup_panic=1`): a panic prints its
    // backtrace whatever the log level, and the guest ends instead of waiting out DEADLINE;
    // every CPU's backtrace with it, in case one waits on another.
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max,+invtsc"])
        .args(["-smp", "2", "-m", "512M"])
        .args(["-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg("console=ttyS0 quiet loglevel=1 panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 tsc=reliable")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    let mut qemu = Qemu(child);
    let mut stdout = qemu.0.stdout.take().ok_or("qemu has no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut console = Vec::new();
        let _ = stdout.read_to_end(&mut console);
        console
    });
    let start = Instant::now();
    let status = loop {
        match qemu.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > DEADLINE => {
                // Where it stopped: the console's last lines, once qemu is gone.
                drop(qemu);
                let console = reader.join().unwrap_or_default();
                return Err(format!(
                    "the guest did not power off within {DEADLINE:?}; its console ended:\n{}",
                    last_lines(&String::from_utf8_lossy(&console))
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("cannot wait for qemu: {e}")),
        }
    };
    let console = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    if status.success() && !console.contains(DONE) {
        return Err(format!(
            "the guest powered off before {DONE}; its console ended:\n{}",
            last_lines(&console)
        ));
    }
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut e) = qemu.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        return Err(format!("qemu exited with {status}: {}", stderr.trim()));
    }
    Ok(console)
}

/// The last lines of a console: where a guest stopped, with a kernel's backtrace if it
/// panicked.
fn last_lines(console: &str) -> String {
    let tail: Vec<&str> = console.lines().rev().take(80).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The sections of scenario `name` in the console output: (section name, its text).
pub fn scenario<'a>(console: &'a str, name: &str) -> Option<Vec<(&'a str, &'a str)>> {
    let begin = format!("@@begin {name}@@");
    let end = format!("@@end {name}@@");
    let body = &console[console.find(&begin)? + begin.len()..];
    let body = &body[..body.find(&end)?];
    Some(
        body.split("@@section ")
            .skip(1)
            .filter_map(|part| part.split_once("@@"))
            .map(|(name, text)| (name, text.trim()))
            .collect(),
    )
}
