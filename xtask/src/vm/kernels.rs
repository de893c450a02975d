//! Stock Debian cloud kernels: which package each release currently ships, downloading it with a
//! private apt configuration (the system's apt state is never touched), and a cache under
//! `$XDG_CACHE_HOME/uprof` (or `~/.cache/uprof`) so that later runs need no network.
//!
//! Cache layout:
//! - `kernels/<release>/vmlinuz` and `kernels/<release>/config`: the extracted kernel;
//! - `kernels/<codename>.current`: the release last resolved for a Debian release;
//! - `apt/<codename>/`: that Debian release's private sources list, package lists and apt cache.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;

use super::tool;

/// The meta-package whose dependency names a release's current cloud kernel.
const META_PACKAGE: &str = "linux-image-cloud-amd64";
/// Used when the system's apt sources name no Debian mirror.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Where Debian 12 keeps its deb822 sources, the first place to look for the system's mirror.
const SYSTEM_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// A kernel series, each the stock kernel of one Debian release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Series {
    /// Linux 5.10, Debian 11 "bullseye".
    #[value(name = "5.10", alias = "bullseye")]
    V5_10,
    /// Linux 6.1, Debian 12 "bookworm".
    #[value(name = "6.1", alias = "bookworm")]
    V6_1,
    /// Linux 6.12, Debian 13 "trixie".
    #[value(name = "6.12", alias = "trixie")]
    V6_12,
}

impl Series {
    /// Every supported series, oldest first.
    pub const ALL: [Series; 3] = [Series::V5_10, Series::V6_1, Series::V6_12];

    /// The short name used on the command line, in tables and in log file names ("6.1").
    pub fn label(self) -> &'static str {
        match self {
            Series::V5_10 => "5.10",
            Series::V6_1 => "6.1",
            Series::V6_12 => "6.12",
        }
    }

    /// The Debian release that ships this series.
    pub fn codename(self) -> &'static str {
        match self {
            Series::V5_10 => "bullseye",
            Series::V6_1 => "bookworm",
            Series::V6_12 => "trixie",
        }
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A kernel image ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The series it belongs to.
    pub series: Series,
    /// Its release string, as `uname -r` prints it ("6.1.0-50-cloud-amd64").
    pub release: String,
    /// The cached `vmlinuz`.
    pub vmlinuz: PathBuf,
}

/// Returns the cached kernel of `series`, resolving and downloading it first when it is not cached
/// yet or when `refresh` asks to look for a newer one.
pub fn ensure(series: Series, refresh: bool) -> Result<Kernel> {
    let cache = cache_root()?;
    let pointer = cache
        .join("kernels")
        .join(format!("{}.current", series.codename()));
    let cached = fs::read_to_string(&pointer)
        .ok()
        .map(|s| s.trim().to_owned());
    let release = match cached {
        Some(release) if !refresh && !release.is_empty() => release,
        _ => {
            let release = AptRelease::new(&cache, series)?.resolve()?;
            write_atomically(&pointer, release.as_bytes())?;
            release
        }
    };
    let dir = cache.join("kernels").join(&release);
    let vmlinuz = dir.join("vmlinuz");
    if !vmlinuz.is_file() {
        AptRelease::new(&cache, series)?.download(&release, &dir)?;
    }
    Ok(Kernel {
        series,
        release,
        vmlinuz,
    })
}

/// `$XDG_CACHE_HOME/uprof`, or `~/.cache/uprof`.
fn cache_root() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(base.join("uprof"))
}

/// A private apt configuration that only knows one Debian release's main archive.
struct AptRelease {
    series: Series,
    root: PathBuf,
}

impl AptRelease {
    fn new(cache: &Path, series: Series) -> Result<Self> {
        let root = cache.join("apt").join(series.codename());
        fs::create_dir_all(root.join("lists/partial"))
            .and_then(|()| fs::create_dir_all(root.join("cache/archives/partial")))
            .with_context(|| format!("cannot create {}", root.display()))?;
        let mirror = fs::read_to_string(SYSTEM_SOURCES)
            .ok()
            .and_then(|text| mirror_from_deb822(&text))
            .unwrap_or_else(|| DEFAULT_MIRROR.to_owned());
        let sources = format!("deb {mirror} {} main\n", series.codename());
        fs::write(root.join("sources.list"), sources)
            .with_context(|| format!("cannot write {}", root.join("sources.list").display()))?;
        Ok(Self { series, root })
    }

    /// `apt-get`/`apt-cache` with every path pointed into this private state.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let dir = |sub: &str| self.root.join(sub).display().to_string();
        for (key, value) in [
            ("Dir::Etc::SourceList", dir("sources.list")),
            ("Dir::Etc::SourceParts", "/dev/null".to_owned()),
            ("Dir::State::Lists", dir("lists")),
            ("Dir::Cache", dir("cache")),
            // Only the Packages index is needed, not AppStream metadata (8 MB per release).
            (
                "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled",
                "false".to_owned(),
            ),
            // The cache lives in root's home, which apt's unprivileged `_apt` user cannot write.
            ("APT::Sandbox::User", "root".to_owned()),
        ] {
            cmd.arg("-o").arg(format!("{key}={value}"));
        }
        cmd.arg("-q");
        cmd
    }

    /// Refreshes the package lists and returns the kernel release the meta-package depends on.
    fn resolve(&self) -> Result<String> {
        eprintln!(
            "vm: resolving the current {} kernel from Debian {}",
            self.series,
            self.series.codename()
        );
        tool::run(self.command("apt-get").arg("update"))?;
        let show =
            tool::run(
                self.command("apt-cache")
                    .args(["show", "--no-all-versions", META_PACKAGE]),
            )?;
        let package = image_dependency(&String::from_utf8_lossy(&show))?;
        release_of(&package)
    }

    /// Downloads `linux-image-<release>` and keeps its `vmlinuz` and `config` in `dir`.
    fn download(&self, release: &str, dir: &Path) -> Result<()> {
        let package = format!("linux-image-{release}");
        eprintln!("vm: downloading {package}");
        let work = self.root.join("download");
        if work.exists() {
            fs::remove_dir_all(&work)
                .with_context(|| format!("cannot clear {}", work.display()))?;
        }
        fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        tool::run(
            self.command("apt-get")
                .arg("download")
                .arg(&package)
                .current_dir(&work),
        )?;
        let deb = only_deb_in(&work)?;
        let tree = work.join("tree");
        tool::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&tree))?;

        // Fill a temporary directory, then rename it: an interrupted download leaves no
        // half-written kernel behind that a later run would take for a cached one.
        let staging = dir.with_extension("partial");
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        for (from, to) in [("vmlinuz", "vmlinuz"), ("config", "config")] {
            let source = tree.join("boot").join(format!("{from}-{release}"));
            fs::copy(&source, staging.join(to))
                .with_context(|| format!("{} has no {}", deb.display(), source.display()))?;
        }
        fs::rename(&staging, dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))
    }
}

fn only_deb_in(dir: &Path) -> Result<PathBuf> {
    let mut debs = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            debs.push(path);
        }
    }
    match debs.len() {
        1 => Ok(debs.remove(0)),
        n => bail!("expected one .deb in {}, found {n}", dir.display()),
    }
}

fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("cache file without a parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)
        .and_then(|()| fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The first Debian archive URI in a deb822 sources file, skipping the security archive (it has
/// no `main` suite named after the release).
fn mirror_from_deb822(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|uri| !uri.contains("security"))
        .map(|uri| uri.trim_end_matches('/').to_owned())
}

/// The versioned image package in the `Depends:` field of `apt-cache show` output for the
/// meta-package, e.g. `linux-image-6.1.0-50-cloud-amd64`.
fn image_dependency(apt_cache_show: &str) -> Result<String> {
    let depends = apt_cache_show
        .lines()
        .find_map(|line| line.strip_prefix("Depends:"))
        .ok_or_else(|| anyhow!("no Depends field in `apt-cache show {META_PACKAGE}` output"))?;
    depends
        .split([',', '|'])
        .filter_map(|alternative| alternative.split_whitespace().next())
        .find(|name| name.starts_with("linux-image-") && *name != META_PACKAGE)
        .map(str::to_owned)
        .ok_or_else(|| {
            anyhow!(
                "{META_PACKAGE} depends on no linux-image package: {}",
                depends.trim()
            )
        })
}

/// The kernel release an image package installs: its name without `linux-image-`.
fn release_of(package: &str) -> Result<String> {
    package
        .strip_prefix("linux-image-")
        .filter(|release| !release.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{package} is not a linux-image package"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIXIE_SHOW: &str = "\
Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.12.117+deb13)
Version: 6.12.117-1
Installed-Size: 13
Depends: linux-image-6.12.117+deb13-cloud-amd64 (= 6.12.117-1)
Description-en: Linux for x86-64 cloud (meta-package)
";

    #[test]
    fn resolves_the_image_package_from_the_meta_package_dependency() {
        let package = image_dependency(TRIXIE_SHOW).unwrap();
        assert_eq!(package, "linux-image-6.12.117+deb13-cloud-amd64");
        assert_eq!(release_of(&package).unwrap(), "6.12.117+deb13-cloud-amd64");
    }

    #[test]
    fn skips_non_image_dependencies_and_alternatives() {
        let show = "Package: linux-image-cloud-amd64\n\
                    Depends: initramfs-tools | linux-initramfs-tool, linux-image-5.10.0-32-cloud-amd64 (= 5.10.223-1)\n";
        assert_eq!(
            image_dependency(show).unwrap(),
            "linux-image-5.10.0-32-cloud-amd64"
        );
    }

    #[test]
    fn a_missing_image_dependency_is_an_error() {
        assert!(image_dependency("Package: linux-image-cloud-amd64\nVersion: 1\n").is_err());
        assert!(image_dependency("Depends: initramfs-tools\n").is_err());
        assert!(release_of("linux-headers-6.1.0-50-cloud-amd64").is_err());
    }

    #[test]
    fn takes_the_first_non_security_mirror_from_deb822_sources() {
        let sources = "\
Types: deb
URIs: http://deb.debian.org/debian-security/
Suites: bookworm-security

Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
";
        assert_eq!(
            mirror_from_deb822(sources).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(mirror_from_deb822("Types: deb\nSuites: bookworm\n"), None);
    }

    #[test]
    fn series_names_match_their_debian_releases() {
        for series in Series::ALL {
            let by_label = Series::from_str(series.label(), false).unwrap();
            let by_codename = Series::from_str(series.codename(), false).unwrap();
            assert_eq!((by_label, by_codename), (series, series));
        }
        assert!(Series::from_str("4.19", false).is_err());
    }
}
