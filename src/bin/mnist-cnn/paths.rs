//! Where each run's files go, chosen from the run's settings (never by matching strings).
use std::path::{Path, PathBuf};

use crate::cli::{DatasetName, NetworkName, Which};

/// Where a run's files go: from the data set, the network and whether it is a quick run
/// (quick runs write under `target/quick/`, so they never replace a full run's files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub model: PathBuf,
    pub history: PathBuf,
    pub reports: PathBuf,
    pub checkpoints: PathBuf,
    /// The lesson's and the better network's histories, and the chart that compares them.
    pub comparison: (PathBuf, PathBuf, PathBuf),
    /// The lesson's and the better network's model files, and the folder of the robustness
    /// chart that compares them.
    pub robustness: (PathBuf, PathBuf, PathBuf),
}

impl Paths {
    pub fn new(dataset: DatasetName, network: NetworkName, quick: bool) -> Paths {
        let root = if quick { PathBuf::from("target/quick") } else { PathBuf::new() };
        // One folder per data set below reports/ and checkpoints/ (none for the lesson's digits),
        // and one per network below that (none for the lesson's network).
        let dataset_dir = match dataset {
            DatasetName::Mnist => PathBuf::new(),
            DatasetName::Fashion => PathBuf::from("fashion"),
        };
        let run_dir = match network {
            NetworkName::Lesson => dataset_dir.clone(),
            NetworkName::Better => dataset_dir.join("better"),
        };
        let reports = root.join("reports").join(&run_dir);
        let model_of = |network| -> PathBuf {
            let name = match (dataset, network) {
                (DatasetName::Mnist, NetworkName::Lesson) => "lesson",
                (DatasetName::Mnist, NetworkName::Better) => "better",
                (DatasetName::Fashion, NetworkName::Lesson) => "fashion",
                (DatasetName::Fashion, NetworkName::Better) => "fashion-better",
            };
            root.join("models").join(format!("{name}.safetensors"))
        };
        let all_reports = root.join("reports").join(&dataset_dir);
        Paths {
            model: model_of(network),
            history: reports.join("history.csv"),
            reports,
            checkpoints: root.join("checkpoints").join(&run_dir),
            comparison: (
                all_reports.join("history.csv"),
                all_reports.join("better").join("history.csv"),
                all_reports.join("comparison.png"),
            ),
            robustness: (model_of(NetworkName::Lesson), model_of(NetworkName::Better), all_reports.clone()),
        }
    }
}

/// The model file a command reads: `--model`, or the run's default.
pub fn model_path(which: &Which, quick: bool) -> PathBuf {
    which.model.clone().unwrap_or_else(|| Paths::new(which.dataset, which.network, quick).model)
}

/// The folder `export` writes to: `--out`, or the model's own folder.
pub fn export_dir(out: Option<&Path>, model: &Path) -> PathBuf {
    out.map(Path::to_path_buf).unwrap_or_else(|| model.parent().map(Path::to_path_buf).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_has_its_own_files() {
        let p = |d, n, q| Paths::new(d, n, q);
        let lesson = p(DatasetName::Mnist, NetworkName::Lesson, false);
        assert_eq!(lesson.model, Path::new("models/lesson.safetensors"));
        assert_eq!(lesson.history, Path::new("reports/history.csv"));
        assert_eq!(lesson.reports, Path::new("reports"));
        assert_eq!(lesson.checkpoints, Path::new("checkpoints"));
        let better = p(DatasetName::Mnist, NetworkName::Better, false);
        assert_eq!(better.model, Path::new("models/better.safetensors"));
        assert_eq!(better.history, Path::new("reports/better/history.csv"));
        assert_eq!(better.checkpoints, Path::new("checkpoints/better"));
        assert_eq!(better.comparison, lesson.comparison);
        assert_eq!(lesson.comparison.2, Path::new("reports/comparison.png"));
        let fashion = p(DatasetName::Fashion, NetworkName::Better, false);
        assert_eq!(fashion.model, Path::new("models/fashion-better.safetensors"));
        assert_eq!(fashion.reports, Path::new("reports/fashion/better"));
        assert_eq!(fashion.comparison.1, Path::new("reports/fashion/better/history.csv"));
        assert_eq!(fashion.robustness, ("models/fashion.safetensors".into(), "models/fashion-better.safetensors".into(), "reports/fashion".into()));
        let quick = p(DatasetName::Fashion, NetworkName::Lesson, true);
        assert_eq!(quick.model, Path::new("target/quick/models/fashion.safetensors"));
        assert_eq!(quick.checkpoints, Path::new("target/quick/checkpoints/fashion"));
        assert_eq!(quick.history, Path::new("target/quick/reports/fashion/history.csv"));
    }
}
