use super::*;

#[test]
fn r_squared_of_exact_noisy_and_singular_fits() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
    assert!((ols_r_squared(&y, &[&x]).unwrap() - 1.0).abs() < 1e-12);
    // y = [1, 3, 2, 5, 4] on x: R² = r² = 0.64.
    let y = [1.0, 3.0, 2.0, 5.0, 4.0];
    assert!((ols_r_squared(&y, &[&x]).unwrap() - 0.64).abs() < 1e-12);
    // No predictors: the intercept alone explains nothing.
    assert!(ols_r_squared(&y, &[]).unwrap().abs() < 1e-12);
    // An all-zero predictor makes the design matrix singular, where CloudSim throws.
    assert_eq!(ols_r_squared(&y, &[&[0.0; 5]]), None);
}

#[test]
fn mathutil_statistics() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), 1.0);
    // n = 8: q1 = x[round(2.25) − 1] = x[1], q3 = x[round(6.75) − 1] = x[6].
    assert_eq!(iqr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), 5.0);
    let (a, b) = ols(&[1.0, 3.0, 5.0, 7.0]);
    assert!((a + 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
    assert_eq!(non_zero_beginning(&[0.3, 0.2, 0.0, 0.5]), 2);
}

/// One step on a book: hold (after releasing any earlier holding, as `alloc_ram_bw`
/// does), release, zero every holding, or clear.
#[derive(Debug, Clone)]
enum BookStep {
    Hold(usize, f64),
    Release(usize),
    ZeroAll,
    Clear,
}

fn book_step() -> impl proptest::strategy::Strategy<Value = BookStep> {
    use proptest::prelude::*;
    prop_oneof![
        // Zero holdings are what running VMs book, and the sum shortcut is for them.
        5 => (0usize..12, prop_oneof![Just(0.0), 0.0f64..1400.0])
            .prop_map(|(vm, x)| BookStep::Hold(vm, x)),
        3 => (0usize..12).prop_map(BookStep::Release),
        1 => Just(BookStep::ZeroAll),
        1 => Just(BookStep::Clear),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// After any run of bookings, releases and refills, a book's free amount is the
    /// capacity less the holdings summed in booking order, to the bit, as
    /// `RamProvisionerSimple` sums them.
    #[test]
    fn book_keeps_its_in_order_sum(steps in proptest::collection::vec(book_step(), 0..200)) {
        let mut book = Book::new(HOST_RAM);
        for step in steps {
            match step {
                BookStep::Hold(vm, x) => {
                    book.release(vm);
                    book.hold(vm, x);
                }
                BookStep::Release(vm) => book.release(vm),
                BookStep::ZeroAll => book.zero_all(),
                BookStep::Clear => book.clear(),
            }
            let summed: f64 = book.held.iter().map(|e| e.1).sum();
            proptest::prop_assert_eq!(book.free().to_bits(), (HOST_RAM - summed).to_bits());
            proptest::prop_assert_eq!(book.all_zero(), book.held.iter().all(|e| e.1 == 0.0));
        }
    }
}

#[test]
fn tenths_are_what_java_divides() {
    for (i, &t) in TENTHS.iter().enumerate() {
        assert_eq!(t.to_bits(), (i as f64 / 10.0).to_bits());
    }
}

/// `PowerModelSpecPower.getPower` as Java writes it, `%` included.
fn java_get_power(power: &[f64; 11], u: f64) -> f64 {
    if u % 0.1 == 0.0 {
        return power[(u * 10.0) as usize];
    }
    let u1 = (u * 10.0).floor() as usize;
    let u2 = (u * 10.0).ceil() as usize;
    let (p1, p2) = (power[u1], power[u2]);
    let delta = (p2 - p1) / 10.0;
    p1 + delta * (u - u1 as f64 / 10.0) * 100.0
}

#[test]
fn power_at_is_javas_get_power_bit_for_bit() {
    let mut probes: Vec<f64> = Vec::new();
    for k in 0..=1000 {
        let k = k as f64;
        probes.extend([
            k / 1000.0,
            k * 0.001,
            k / 100.0,
            k * 0.01,
            k / 10.0,
            k * 0.1,
        ]);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        probes.push((x >> 11) as f64 / (1u64 << 53) as f64);
    }
    let e = Experiment::new(Policy::Dvfs, &[], 2);
    for curve in &e.curves {
        for &u in probes.iter().filter(|u| (0.0..=1.0).contains(*u)) {
            let (ours, java) = (curve.at(u), java_get_power(&curve.power, u));
            assert_eq!(ours.to_bits(), java.to_bits(), "{u:?}: {ours} vs {java}");
        }
    }
}

#[test]
fn policy_names_parse() {
    assert_eq!(Policy::parse("npa"), Ok(Policy::Npa));
    assert_eq!(
        Policy::parse("thr-mmt-0.8"),
        Ok(Policy::Migration(Detector::Thr(0.8), Selector::Mmt))
    );
    assert_eq!(
        Policy::parse("lrr-mu-1.2"),
        Ok(Policy::Migration(Detector::Lrr(1.2), Selector::Mu))
    );
    assert!(Policy::parse("thr-rs-0.8").is_err());
}

#[test]
fn specpower_matches_cloudsims_arithmetic() {
    let e = Experiment::new(Policy::Dvfs, &[], 2);
    let g4 = &e.curves[host_type(0)];
    assert_eq!(g4.at(0.0), 86.0);
    assert!((g4.at(0.45) - 100.75).abs() < 1e-9);
    assert_eq!(g4.at(1.0), 117.0);
}
