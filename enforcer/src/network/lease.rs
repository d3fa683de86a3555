//! Address leases: `<state dir>/.networks/<network>/<address>`, each
//! naming its sandbox.
