//! Tighten-only rules for `network`.

use super::{Checked, loosened};
use crate::normal::NormalNetwork;

/// GROUNDWORK PLACEHOLDER (replaced by the model's own rules): a later
/// policy keeps the network exactly.
pub(super) fn network_tightened(earlier: &NormalNetwork, later: &NormalNetwork) -> Checked {
    if earlier != later {
        return loosened("network", "changes the network");
    }
    Ok(())
}
