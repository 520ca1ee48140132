//! Tool wear: extended Taylor tool life, life consumption under varying conditions, the
//! three-stage flank-wear curve, and breakage.

/// Extended Taylor tool life in minutes of cutting until the flank wear limit:
/// T = (C / (vc · fz^y · ap^x))^(1/n)   (vc m/min, fz mm, ap mm).
pub fn taylor_life_min(c: f64, n: f64, x: f64, y: f64, vc: f64, fz: f64, ap: f64) -> f64 {
    (c / (vc * fz.powf(y) * ap.powf(x))).powf(1.0 / n)
}

// Three-stage wear curve g(u) = A(1 - e^(-u/τ)) + B u + C u^P:
// break-in (fast initial rise to about A of the limit), steady (linear B), accelerated (C u^P).
// Shape chosen to look like the textbook VB-over-time curve; the split (25 % break-in, 45 %
// steady, 30 % accelerated at u = 1) is this simulator's assumption.
const BREAK_IN: f64 = 0.25;
const BREAK_IN_TAU: f64 = 0.04;
const STEADY: f64 = 0.45;
const ACCEL_POWER: i32 = 8;

/// Normalised flank wear VB / VB_limit as a function of consumed life u (u = 1 at the limit).
/// g(0) = 0, g(1) = 1, strictly increasing.
pub fn wear_curve(u: f64) -> f64 {
    let u = u.max(0.0);
    let accel = 1.0 - BREAK_IN * (1.0 - (-1.0 / BREAK_IN_TAU).exp()) - STEADY;
    BREAK_IN * (1.0 - (-u / BREAK_IN_TAU).exp()) + STEADY * u + accel * u.powi(ACCEL_POWER)
}

/// Breakage hazard per minute of cutting at consumed life u: rises steeply past the limit.
pub fn breakage_hazard_per_min(base: f64, wear: f64, exponent: f64, u: f64) -> f64 {
    base + wear * u.max(0.0).powf(exponent)
}

/// Largest flank wear reported, mm.
pub const VB_MAX_MM: f64 = 1.0;

/// Why a tool left the spindle for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceReason {
    /// The CNC tool-life counter reached its limit.
    LifeCounter,
    /// The true flank wear reached VB_limit (the operator saw it in the part).
    WearLimit,
    Breakage,
}

impl ReplaceReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceReason::LifeCounter => "life_counter",
            ReplaceReason::WearLimit => "vb_limit",
            ReplaceReason::Breakage => "breakage",
        }
    }
}

/// The wear state of one physical tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolWear {
    /// Magazine pocket.
    pub pocket: u32,
    /// 1 for the first tool put into this pocket, 2 for its replacement, ...
    pub serial: u32,
    /// This tool's multiplier on the Taylor constant C (lognormal, median 1).
    pub c_factor: f64,
    /// Consumed life fraction u; du/dt = 1/T(current conditions).
    pub consumed: f64,
    /// CNC tool-life counter: minutes of cutting on this tool.
    pub counter_min: f64,
    pub broken: bool,
    /// Tool life at the conditions it last cut under (minutes), for the remaining-life truth.
    pub last_life_min: Option<f64>,
}

impl ToolWear {
    pub fn new(pocket: u32, serial: u32, c_factor: f64) -> Self {
        ToolWear {
            pocket,
            serial,
            c_factor,
            consumed: 0.0,
            counter_min: 0.0,
            broken: false,
            last_life_min: None,
        }
    }

    /// `T2-0007`: pocket 2, 7th tool put in.
    pub fn identifier(&self) -> String {
        format!("T{}-{:04}", self.pocket, self.serial)
    }

    /// True flank wear in mm. Capped at VB_MAX_MM: far past the limit the edge is gone and
    /// VB stops meaning anything (the breakage hazard has taken over by then).
    pub fn vb_mm(&self, vb_limit: f64) -> f64 {
        (vb_limit * wear_curve(self.consumed)).min(VB_MAX_MM)
    }

    /// Cut for `dt_min` minutes at a tool life of `life_min` (at the current conditions).
    pub fn cut(&mut self, dt_min: f64, life_min: f64) {
        self.consumed += dt_min / life_min;
        self.counter_min += dt_min;
        self.last_life_min = Some(life_min);
    }

    /// Minutes of cutting left until VB_limit at the last conditions (0 once past it).
    pub fn remaining_life_min(&self) -> Option<f64> {
        self.last_life_min
            .map(|t| ((1.0 - self.consumed) * t).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taylor_life_known_inputs() {
        // C = 180, n = 0.35, x = 0.15, y = 0.6, vc = 220, fz = 0.12, ap = 1.5 by hand:
        // 0.12^0.6 = 0.280226, 1.5^0.15 = 1.062707, denominator 65.5157,
        // 180 / 65.5157 = 2.747435, ^(1/0.35) = 17.9506 min
        let t = taylor_life_min(180.0, 0.35, 0.15, 0.6, 220.0, 0.12, 1.5);
        assert!((t - 17.9506).abs() < 0.001, "{t}");
        // Classic Taylor (x = y = 0): vc T^n = C -> T = (C/vc)^(1/n)
        let t = taylor_life_min(400.0, 0.25, 0.0, 0.0, 200.0, 0.3, 3.0);
        assert!((t - 16.0).abs() < 1e-9, "{t}");
    }

    #[test]
    fn faster_cutting_wears_faster() {
        let slow = taylor_life_min(180.0, 0.35, 0.15, 0.6, 150.0, 0.1, 2.0);
        let fast = taylor_life_min(180.0, 0.35, 0.15, 0.6, 300.0, 0.1, 2.0);
        // Doubling vc divides life by 2^(1/n) = 2^2.857 = 7.25
        assert!((slow / fast - 2f64.powf(1.0 / 0.35)).abs() < 1e-9);
    }

    #[test]
    fn wear_curve_endpoints_and_monotone() {
        assert_eq!(wear_curve(0.0), 0.0);
        assert!((wear_curve(1.0) - 1.0).abs() < 1e-12);
        let mut prev = wear_curve(0.0);
        for i in 1..=1500 {
            let g = wear_curve(i as f64 * 0.001);
            assert!(g > prev, "not increasing at u = {}", i as f64 * 0.001);
            prev = g;
        }
    }

    #[test]
    fn wear_curve_has_three_stages() {
        // Break-in: steep at the start; steady: slope about STEADY mid-life; accelerated: steep
        // again near the end.
        let slope = |u: f64| (wear_curve(u + 1e-4) - wear_curve(u)) / 1e-4;
        assert!(slope(0.005) > 3.0);
        assert!((slope(0.5) - STEADY).abs() < 0.05, "{}", slope(0.5));
        assert!(slope(0.98) > 1.5);
        // About a quarter of the limit after break-in.
        assert!((wear_curve(0.2) - 0.34).abs() < 0.02, "{}", wear_curve(0.2));
    }

    #[test]
    fn wear_is_monotone_under_varying_conditions() {
        let mut tool = ToolWear::new(2, 1, 1.0);
        let mut last_vb = tool.vb_mm(0.3);
        for (i, life) in [20.0, 5.0, 60.0, 12.0].iter().cycle().take(200).enumerate() {
            tool.cut(0.05, *life);
            let vb = tool.vb_mm(0.3);
            assert!(vb > last_vb, "step {i}");
            last_vb = vb;
        }
        // 200 * 0.05 min = 10 min of cutting counted
        assert!((tool.counter_min - 10.0).abs() < 1e-9);
        // u = 50 * 0.05 * (1/20 + 1/5 + 1/60 + 1/12) = 0.875
        let u = 2.5 * (1.0 / 20.0 + 1.0 / 5.0 + 1.0 / 60.0 + 1.0 / 12.0);
        assert!((tool.consumed - u).abs() < 1e-9);
    }

    #[test]
    fn identifier_format() {
        assert_eq!(ToolWear::new(2, 7, 1.0).identifier(), "T2-0007");
    }

    #[test]
    fn hazard_rises_with_wear() {
        let h0 = breakage_hazard_per_min(0.0003, 0.01, 6.0, 0.1);
        let h1 = breakage_hazard_per_min(0.0003, 0.01, 6.0, 1.0);
        let h2 = breakage_hazard_per_min(0.0003, 0.01, 6.0, 1.3);
        assert!(h0 < h1 && h1 < h2);
        assert!((h1 - 0.0103).abs() < 1e-12);
    }
}
