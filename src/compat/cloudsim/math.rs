//! Statistics as CloudSim's `util/MathUtil` computes them, operation for operation.

use super::*;

/// R² of `y` regressed on the columns `x` with an intercept, as Commons Math 3
/// (`OLSMultipleLinearRegression.calculateRSquared`, the same arithmetic in 3.0 and 3.6.1)
/// computes it, operation for operation: Householder QR of the design matrix
/// (`QRDecomposition`), β by its solver, the residuals y − Xβ, their sum of squares, and the
/// total sum of squares by the running `SecondMoment`. MC picks the largest R², and when the
/// fit is exact (as many history samples as VMs) every candidate scores 1 up to rounding:
/// the choice is then made by the last bits, so they have to be CloudSim's.
///
/// `None` where Commons Math throws and CloudSim falls back on MMT: a diagonal of R exactly
/// 0 (`SingularMatrixException`), that is a column with nothing left once the earlier ones are
/// removed.
pub(super) fn ols_r_squared(y: &[f64], x: &[&[f64]]) -> Option<f64> {
    let m = y.len();
    let n = x.len() + 1;
    // `qrt`: the transposed design matrix, row j = column j of X (the intercept first), flat.
    let mut qrt = vec![1.0; n * m];
    for (j, c) in x.iter().enumerate() {
        qrt[(j + 1) * m..(j + 2) * m].copy_from_slice(&c[..m]);
    }
    let column = |j: usize, obs: usize| if j == 0 { 1.0 } else { x[j - 1][obs] };
    let mut r_diag = vec![0.0; m.min(n)];
    for minor in 0..m.min(n) {
        let (head, tail) = qrt.split_at_mut((minor + 1) * m);
        let v = &mut head[minor * m..];
        let mut norm_sqr = 0.0;
        for &c in &v[minor..] {
            norm_sqr += c * c;
        }
        let a = if v[minor] > 0.0 {
            -norm_sqr.sqrt()
        } else {
            norm_sqr.sqrt()
        };
        r_diag[minor] = a;
        if a != 0.0 {
            v[minor] -= a;
            for col in tail.chunks_exact_mut(m) {
                let mut alpha = 0.0;
                for row in minor..m {
                    alpha -= col[row] * v[row];
                }
                alpha /= a * v[minor];
                for row in minor..m {
                    col[row] -= alpha * v[row];
                }
            }
        }
    }
    if r_diag.iter().any(|d| d.abs() <= 0.0) {
        return None;
    }
    // The solver: apply the reflections to y, then back-substitute R·β = Qᵀy.
    let mut w = y.to_vec();
    for (minor, &d) in r_diag.iter().enumerate() {
        let v = &qrt[minor * m..(minor + 1) * m];
        let mut dot = 0.0;
        for row in minor..m {
            dot += w[row] * v[row];
        }
        dot /= d * v[minor];
        for row in minor..m {
            w[row] += dot * v[row];
        }
    }
    let mut beta = vec![0.0; n];
    for row in (0..r_diag.len()).rev() {
        w[row] /= r_diag[row];
        let w_row = w[row];
        beta[row] = w_row;
        let q = &qrt[row * m..(row + 1) * m];
        for i in 0..row {
            w[i] -= w_row * q[i];
        }
    }
    // Residuals, observation by observation: y − Σ_j X[obs][j]·β[j].
    let mut rss = 0.0;
    for (obs, &yo) in y.iter().enumerate() {
        let mut fit = 0.0;
        for (j, b) in beta.iter().enumerate() {
            fit += column(j, obs) * b;
        }
        let r = yo - fit;
        rss += r * r;
    }
    // `SecondMoment`: the running mean and sum of squared deviations.
    let (mut mean, mut m2) = (0.0, 0.0);
    for (k, &v) in y.iter().enumerate() {
        let dev = v - mean;
        let n_dev = dev / (k + 1) as f64;
        mean += n_dev;
        m2 += k as f64 * dev * n_dev;
    }
    Some(1.0 - rss / m2)
}

pub(super) fn mad(v: &[f64]) -> f64 {
    let m = median(v);
    let dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// `MathUtil.iqr`: q1 = x[round(0.25(n+1)) − 1], q3 = x[round(0.75(n+1)) − 1] on sorted x.
pub(super) fn iqr(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    let n = s.len() as f64;
    let q1 = ((0.25 * (n + 1.0)).round() as usize)
        .saturating_sub(1)
        .min(s.len() - 1);
    let q3 = ((0.75 * (n + 1.0)).round() as usize)
        .saturating_sub(1)
        .min(s.len() - 1);
    if q1 >= q3 {
        return 0.0;
    }
    let hi = kth(&mut s, q3);
    // After selecting q3, the q1-th smallest lies among the q3 values left of it.
    let lo = kth(&mut s[..q3], q1);
    hi - lo
}

/// Leading non-zero values (`MathUtil.countNonZeroBeginning`).
pub(super) fn non_zero_beginning(v: &[f64]) -> usize {
    v.iter().position(|&x| x == 0.0).unwrap_or(v.len())
}

/// Ordinary least squares of y on x = 1..n: (intercept, slope).
pub(super) fn ols(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let xs: Vec<f64> = (1..=y.len()).map(|i| i as f64).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let b = sxy / sxx;
    (my - b * mx, b)
}
