//! UCF101 on disk: `UCF-101/<Class>/v_<Class>_gGG_cCC.avi` and `ucfTrainTestlist/`.
//!
//! `classInd.txt` numbers the classes from 1 (`"1 ApplyEyeMakeup"`, CRLF line ends); `trainlistNN.txt`
//! lines are `Class/v_Class_gGG_cCC.avi LABEL`, `testlistNN.txt` lines the path alone. A clip's label
//! comes from the list or its folder, never from its file name: `HandstandPushups/` holds
//! `v_HandStandPushups_*` files. The stand-in corpus (`avfoil data actions`) writes the same layout.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One video of the data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoItem {
    pub path: PathBuf,
    /// 0-based class index (classInd's number − 1).
    pub label: usize,
    /// `gGG` and `cCC` from the file name (1-based), when it follows UCF101's pattern.
    pub group: Option<u32>,
    pub clip: Option<u32>,
}

/// Which part of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

/// A UCF101-layout folder.
#[derive(Clone, Debug)]
pub struct Ucf101 {
    /// The folder holding the class folders (`…/UCF-101`).
    pub videos: PathBuf,
    /// `…/ucfTrainTestlist`.
    pub lists: PathBuf,
    /// Class names, index = label.
    pub classes: Vec<String>,
}

impl Ucf101 {
    /// Opens `root`, the folder that holds `UCF-101/` and `ucfTrainTestlist/` (as the official
    /// archives unpack side by side).
    pub fn open(root: &Path) -> Result<Self> {
        let videos = root.join("UCF-101");
        let lists = root.join("ucfTrainTestlist");
        for dir in [&videos, &lists] {
            if !dir.is_dir() {
                return Err(Error::decode(
                    dir,
                    "not found: a UCF101 folder holds UCF-101/ and ucfTrainTestlist/",
                ));
            }
        }
        let classes = read_class_index(&lists.join("classInd.txt"))?;
        Ok(Self {
            videos,
            lists,
            classes,
        })
    }

    /// The videos of `part` of split `split` (1, 2 or 3), in list order.
    pub fn split(&self, split: u32, part: Part) -> Result<Vec<VideoItem>> {
        if !(1..=3).contains(&split) {
            return Err(Error::invalid(
                "split",
                format!("UCF101 has splits 1, 2 and 3, got {split}"),
            ));
        }
        let name = match part {
            Part::Train => format!("trainlist{split:02}.txt"),
            Part::Test => format!("testlist{split:02}.txt"),
        };
        let path = self.lists.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut items = Vec::new();
        let mut lines_seen = std::collections::HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: String| Error::decode(&path, format!("line {}: {why}", n + 1));
            let mut fields = line.split_whitespace();
            let rel = fields.next().unwrap_or_default();
            let folder = rel
                .split('/')
                .next()
                .filter(|f| rel.contains('/') && !f.is_empty())
                .ok_or_else(|| bad(format!("expected Class/file, got {rel:?}")))?;
            let from_folder = self
                .classes
                .iter()
                .position(|c| c == folder)
                .ok_or_else(|| bad(format!("class folder {folder:?} is not in classInd.txt")))?;
            let label = match fields.next() {
                None => from_folder,
                Some(l) => {
                    let l: usize = l
                        .parse()
                        .ok()
                        .filter(|l| (1..=self.classes.len()).contains(l))
                        .ok_or_else(|| {
                            bad(format!("label {l:?} is not 1..={}", self.classes.len()))
                        })?;
                    if l - 1 != from_folder {
                        return Err(bad(format!(
                            "label {l} ({}) disagrees with folder {folder:?}",
                            self.classes[l - 1]
                        )));
                    }
                    l - 1
                }
            };
            // Confined to the video folder: no `..`, no absolute path, no empty component.
            if rel.starts_with('/') || rel.split(['/', '\\']).any(|c| c.is_empty() || c == "..") {
                return Err(bad(format!(
                    "{rel:?} leaves the video folder; expected Class/file relative to {}",
                    self.videos.display()
                )));
            }
            if let Some(first) = lines_seen.insert(rel.to_string(), n + 1) {
                return Err(bad(format!(
                    "{rel:?} repeats line {first}: it would be measured twice"
                )));
            }
            let file = self.videos.join(rel);
            if !file.is_file() {
                return Err(bad(format!("{} is listed but missing", file.display())));
            }
            let (group, clip) = group_and_clip(&file);
            items.push(VideoItem {
                path: file,
                label,
                group,
                clip,
            });
        }
        if items.is_empty() {
            return Err(Error::decode(&path, "lists no videos"));
        }
        Ok(items)
    }
}

/// Reads `classInd.txt`: lines `N Name`, N running 1, 2, … in order.
pub fn read_class_index(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut classes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (num, name) = line
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .filter(|(_, b)| !b.is_empty())
            .ok_or_else(|| {
                Error::decode(
                    path,
                    format!("line {}: expected \"N ClassName\", got {line:?}", n + 1),
                )
            })?;
        if num.parse::<usize>().ok() != Some(classes.len() + 1) {
            return Err(Error::decode(
                path,
                format!(
                    "line {}: expected class number {}, got {num:?}",
                    n + 1,
                    classes.len() + 1
                ),
            ));
        }
        classes.push(name.to_string());
    }
    if classes.len() < 2 {
        return Err(Error::decode(path, "lists fewer than 2 classes"));
    }
    Ok(classes)
}

/// `gGG` and `cCC` of `v_<anything>_gGG_cCC.ext`.
fn group_and_clip(path: &Path) -> (Option<u32>, Option<u32>) {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut parts = stem.rsplit('_');
    let clip = parts
        .next()
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|c| c.parse().ok());
    let group = parts
        .next()
        .and_then(|g| g.strip_prefix('g'))
        .and_then(|g| g.parse().ok());
    (group, clip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path, class_ind: &str, train: &str, test: &str) {
        std::fs::create_dir_all(dir.join("UCF-101")).unwrap();
        let lists = dir.join("ucfTrainTestlist");
        std::fs::create_dir_all(&lists).unwrap();
        std::fs::write(lists.join("classInd.txt"), class_ind).unwrap();
        std::fs::write(lists.join("trainlist01.txt"), train).unwrap();
        std::fs::write(lists.join("testlist01.txt"), test).unwrap();
        // The listed clips exist (their content is not read here).
        for line in train.lines().chain(test.lines()) {
            let Some(rel) = line.split_whitespace().next() else {
                continue;
            };
            let file = dir.join("UCF-101").join(rel);
            if !rel.contains("..") {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, b"").unwrap();
            }
        }
    }

    #[test]
    fn labels_come_from_lists_and_folders_not_file_names() {
        let dir = tempfile::tempdir().unwrap();
        layout(
            dir.path(),
            "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n",
            "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n",
            "HandstandPushups/v_HandStandPushups_g01_c03.avi\r\nApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\r\n",
        );
        let ucf = Ucf101::open(dir.path()).unwrap();
        assert_eq!(ucf.classes, ["ApplyEyeMakeup", "HandstandPushups"]);
        let train = ucf.split(1, Part::Train).unwrap();
        assert_eq!(train[0].label, 1);
        assert_eq!((train[0].group, train[0].clip), (Some(8), Some(1)));
        let test = ucf.split(1, Part::Test).unwrap();
        assert_eq!(test.iter().map(|i| i.label).collect::<Vec<_>>(), [1, 0]);
        assert!(
            test[0]
                .path
                .ends_with("UCF-101/HandstandPushups/v_HandStandPushups_g01_c03.avi")
        );
        assert!(ucf.split(4, Part::Test).is_err());
    }

    #[test]
    fn bad_lists_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        layout(
            dir.path(),
            "1 A\r\n2 B\r\n",
            "B/v_B_g08_c01.avi 1\r\n",
            "C/v_C_g01_c01.avi\r\n",
        );
        let ucf = Ucf101::open(dir.path()).unwrap();
        let e = ucf.split(1, Part::Train).unwrap_err().to_string();
        assert!(
            e.contains("trainlist01.txt") && e.contains("line 1") && e.contains("disagrees"),
            "{e}"
        );
        let e = ucf.split(1, Part::Test).unwrap_err().to_string();
        assert!(e.contains("\"C\" is not in classInd"), "{e}");
        std::fs::write(
            dir.path().join("ucfTrainTestlist/classInd.txt"),
            "1 A\n3 B\n",
        )
        .unwrap();
        let e = Ucf101::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("expected class number 2"), "{e}");
        let e = Ucf101::open(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("UCF-101"), "{e}");
    }

    /// A list line naming `../..` read files outside the data set; a missing clip failed only when
    /// the evaluation reached it, minutes in.
    #[test]
    fn list_lines_stay_inside_the_root_and_name_existing_clips() {
        let dir = tempfile::tempdir().unwrap();
        layout(
            dir.path(),
            "1 A\n2 B\n",
            "A/../../../etc/passwd\n",
            "A/v_A_g01_c01.avi\n",
        );
        let ucf = Ucf101::open(dir.path()).unwrap();
        let e = ucf.split(1, Part::Train).unwrap_err().to_string();
        assert!(
            e.contains("trainlist01.txt") && e.contains("leaves the video folder"),
            "{e}"
        );
        assert_eq!(ucf.split(1, Part::Test).unwrap().len(), 1);
        std::fs::write(
            dir.path().join("ucfTrainTestlist/testlist01.txt"),
            "A/v_A_g01_c01.avi\nA/v_A_g01_c01.avi\n",
        )
        .unwrap();
        let e = ucf.split(1, Part::Test).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("repeats line 1"), "{e}");
        std::fs::write(
            dir.path().join("ucfTrainTestlist/testlist01.txt"),
            "A/v_A_g01_c01.avi\n",
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("UCF-101/A/v_A_g01_c01.avi")).unwrap();
        let e = ucf.split(1, Part::Test).unwrap_err().to_string();
        assert!(
            e.contains("testlist01.txt")
                && e.contains("line 1")
                && e.contains("listed but missing"),
            "{e}"
        );
    }
}
