//! The scan worker: lists the data dir, re-reads the layout table, and indexes new or changed
//! ISOs on a thread of its own, so that a 4 GiB scan never holds up an operator's change or
//! the boot events. It hands back what it found; the coordinator records and publishes it.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender};

use super::Message;
use crate::images::layout_file::LayoutFile;
use crate::images::{self, Image};
use crate::scan::{self, Found};
use crate::store::FileRecord;

/// A scan's result.
pub struct Scanned {
    /// The request it answers.
    pub generation: u64,
    /// Every servable file, and the images among them; `None` when nothing changed.
    pub found: Option<(Vec<Found>, Vec<Image>)>,
}

/// A request to scan: `force` scans and indexes even when no file changed.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest {
    /// Numbered by the coordinator, answered in order.
    pub generation: u64,
    /// Redo detection even when nothing changed on disk.
    pub force: bool,
}

/// What the scanner keeps between scans.
pub struct Scanner {
    data_dir: PathBuf,
    layouts: LayoutFile,
    /// Images of the last scan: their indexes are reused while the ISO is unchanged.
    known: Vec<Image>,
    last: Option<Vec<FileRecord>>,
}

impl Scanner {
    /// A scanner starting from `known` (as stored).
    pub fn new(data_dir: PathBuf, known: Vec<Image>) -> Scanner {
        Scanner {
            data_dir,
            layouts: LayoutFile::default(),
            known,
            last: None,
        }
    }

    /// One scan: `None` when neither the files nor the layout table changed (unless forced).
    pub fn scan(&mut self, force: bool) -> Option<(Vec<Found>, Vec<Image>)> {
        let found = scan::scan(&self.data_dir);
        let redetect = self.layouts.reload(&self.data_dir);
        let records: Vec<FileRecord> = found.iter().map(|f| f.record.clone()).collect();
        if !force && !redetect && self.last.as_ref() == Some(&records) {
            return None;
        }
        let images = images::refresh(&found, &self.known, self.layouts.table(), redetect);
        self.known.clone_from(&images);
        self.last = Some(records);
        Some((found, images))
    }

    /// Runs on its own thread: one scan per request, answered to `results`, until either
    /// channel closes.
    pub fn spawn(
        mut self,
        requests: Receiver<ScanRequest>,
        results: Sender<Message>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("fleetboot-scanner".into())
            .spawn(move || {
                while let Ok(first) = requests.recv() {
                    // Requests queued meanwhile are answered by one scan.
                    let mut request = first;
                    for later in requests.try_iter() {
                        request = ScanRequest {
                            generation: later.generation,
                            force: request.force || later.force,
                        };
                    }
                    let found = self.scan(request.force);
                    let answer = Scanned {
                        generation: request.generation,
                        found,
                    };
                    if results.send(Message::Scanned(answer)).is_err() {
                        return;
                    }
                }
            })
    }
}
