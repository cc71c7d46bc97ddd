//! The action-plan reader (`migsim execute PLAN.json`): any bytes give a plan or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = migsim::plan::ActionPlan::parse("plan.json", text);
    }
});
