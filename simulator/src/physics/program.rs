//! The part program: operations in sequence, tool changes, air moves, drilling retracts and
//! part changes; one part per cycle, repeated. Also where the axes are along the path.

use super::cutting::{feed_rate_mm_min, spindle_speed_rpm};
use crate::scenario::{OperationConfig, OperationKind, ProgramConfig, ToolConfig};

/// An operation with what the CNC derives from it.
#[derive(Debug, Clone)]
pub struct OpPlan {
    pub cfg: OperationConfig,
    /// Index of the operation's tool in the tool list.
    pub tool_index: usize,
    pub diameter_mm: f64,
    pub edges: u32,
    /// Programmed spindle speed n = 1000·vc/(π·D), limited to the machine's maximum.
    pub speed_rpm: f64,
    /// Milling: path length in the cut; drilling: depth of one hole.
    pub length_mm: f64,
    /// 1 for milling.
    pub holes: u32,
    /// Axial depth used for tool life (drill: D/2, the radial depth of cut of each lip).
    pub ap_mm: f64,
}

impl OpPlan {
    pub fn new(cfg: &OperationConfig, tools: &[ToolConfig], max_rpm: f64) -> Self {
        let tool_index = tools
            .iter()
            .position(|t| t.pocket == cfg.tool)
            .expect("validated: operation tool exists");
        let tool = &tools[tool_index];
        let speed_rpm = spindle_speed_rpm(cfg.vc, tool.diameter_mm).min(max_rpm);
        let (length_mm, holes, ap_mm) = if cfg.kind == OperationKind::Drill {
            (
                cfg.hole_depth_mm.unwrap_or(10.0),
                cfg.holes.unwrap_or(1).max(1),
                tool.diameter_mm / 2.0,
            )
        } else {
            let length = match (cfg.cut_length_mm, cfg.cut_time_s) {
                (Some(l), _) => l,
                (None, Some(t)) => feed_rate_mm_min(cfg.fz, tool.edges, speed_rpm) * t / 60.0,
                (None, None) => 100.0,
            };
            (length, 1, cfg.ap)
        };
        OpPlan {
            cfg: cfg.clone(),
            tool_index,
            diameter_mm: tool.diameter_mm,
            edges: tool.edges,
            speed_rpm,
            length_mm,
            holes,
            ap_mm,
        }
    }

    pub fn is_drill(&self) -> bool {
        self.cfg.kind == OperationKind::Drill
    }
}

/// Where the program is.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Changing to the operation's tool (spindle stopped).
    ToolChange { op: usize, left_s: f64 },
    /// Spindle starting, rapid approach to the start of the cut.
    Approach { op: usize, left_s: f64 },
    /// In the cut: `done_mm` along the path (drill: depth of the current hole).
    Cut { op: usize, hole: u32, done_mm: f64 },
    /// Drill out of the hole, moving to the next one.
    Retract { op: usize, hole: u32, left_s: f64 },
    /// Part finished: unload / load.
    PartChange { left_s: f64 },
    /// After a tool breakage: machine interrupted while the operator clears the spindle.
    Interrupted { op: usize, left_s: f64 },
}

/// What the machine has to act on after a sequencer step.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqEvent {
    /// The tool for `op` is now in the spindle (the machine decides whether it was a new one).
    ToolChangeDone { op: usize },
    /// Start operation `op`: the machine calls `start_op` with whether a tool change is due.
    StartOp { op: usize },
    /// A part was finished (the parts counter went up).
    PartFinished,
}

#[derive(Debug, Clone)]
pub struct Sequencer {
    pub cfg: ProgramConfig,
    pub plans: Vec<OpPlan>,
    pub phase: Phase,
    pub parts: u32,
}

impl Sequencer {
    pub fn new(cfg: &ProgramConfig, tools: &[ToolConfig], max_rpm: f64) -> Self {
        let plans = cfg
            .operations
            .iter()
            .map(|op| OpPlan::new(op, tools, max_rpm))
            .collect();
        Sequencer {
            cfg: cfg.clone(),
            plans,
            // The first operation's tool is already in the spindle at start.
            phase: Phase::Approach {
                op: 0,
                left_s: cfg.air_move_s,
            },
            parts: 0,
        }
    }

    /// Index of the operation the program is in (none during a part change).
    pub fn current_op(&self) -> Option<usize> {
        match self.phase {
            Phase::ToolChange { op, .. }
            | Phase::Approach { op, .. }
            | Phase::Cut { op, .. }
            | Phase::Retract { op, .. }
            | Phase::Interrupted { op, .. } => Some(op),
            Phase::PartChange { .. } => None,
        }
    }

    pub fn start_op(&mut self, op: usize, tool_change: bool) {
        self.phase = if tool_change {
            Phase::ToolChange {
                op,
                left_s: self.cfg.tool_change_s,
            }
        } else {
            Phase::Approach {
                op,
                left_s: self.cfg.air_move_s,
            }
        };
    }

    /// After a breakage: interrupt, then change the tool and redo the operation.
    pub fn interrupt(&mut self, op: usize) {
        self.phase = Phase::Interrupted {
            op,
            left_s: self.cfg.breakage_downtime_s,
        };
    }

    /// Restart the current operation from its approach (after a stop / reset).
    pub fn restart_current_op(&mut self) {
        if let Phase::Approach { op, .. } | Phase::Cut { op, .. } | Phase::Retract { op, .. } =
            self.phase
        {
            self.phase = Phase::Approach {
                op,
                left_s: self.cfg.air_move_s,
            };
        }
    }

    /// Advance by `dt` seconds; `feed_mm_min` is the actual feed rate while in the cut.
    pub fn advance(&mut self, dt: f64, feed_mm_min: f64) -> Option<SeqEvent> {
        match &mut self.phase {
            Phase::ToolChange { op, left_s } => {
                *left_s -= dt;
                if *left_s <= 0.0 {
                    let op = *op;
                    self.phase = Phase::Approach {
                        op,
                        left_s: self.cfg.air_move_s,
                    };
                    return Some(SeqEvent::ToolChangeDone { op });
                }
            }
            Phase::Approach { op, left_s } => {
                *left_s -= dt;
                if *left_s <= 0.0 {
                    self.phase = Phase::Cut {
                        op: *op,
                        hole: 0,
                        done_mm: 0.0,
                    };
                }
            }
            Phase::Cut { op, hole, done_mm } => {
                *done_mm += feed_mm_min * dt / 60.0;
                let plan = &self.plans[*op];
                if *done_mm >= plan.length_mm {
                    if *hole + 1 < plan.holes {
                        self.phase = Phase::Retract {
                            op: *op,
                            hole: *hole + 1,
                            left_s: self.cfg.drill_retract_s,
                        };
                    } else if *op + 1 < self.plans.len() {
                        return Some(SeqEvent::StartOp { op: *op + 1 });
                    } else {
                        self.parts = self.parts.wrapping_add(1);
                        self.phase = Phase::PartChange {
                            left_s: self.cfg.part_change_s,
                        };
                        return Some(SeqEvent::PartFinished);
                    }
                }
            }
            Phase::Retract { op, hole, left_s } => {
                *left_s -= dt;
                if *left_s <= 0.0 {
                    self.phase = Phase::Cut {
                        op: *op,
                        hole: *hole,
                        done_mm: 0.0,
                    };
                }
            }
            Phase::PartChange { left_s } => {
                *left_s -= dt;
                if *left_s <= 0.0 {
                    return Some(SeqEvent::StartOp { op: 0 });
                }
            }
            Phase::Interrupted { op, left_s } => {
                *left_s -= dt;
                if *left_s <= 0.0 {
                    self.phase = Phase::ToolChange {
                        op: *op,
                        left_s: self.cfg.tool_change_s,
                    };
                }
            }
        }
        None
    }
}

/// Tool change height (Z home) and part change position.
pub const Z_HOME_MM: f64 = 300.0;
pub const LOAD_POSITION: [f64; 3] = [0.0, 250.0, Z_HOME_MM];

/// Position on the cutting path (part zero at the top corner of the part) and the unit
/// direction of travel in XY. The path is a zig-zag of lanes for facing and pocketing, a
/// rectangle for contouring, a row of holes for drilling; deeper layers once the area is
/// covered. Plausible motion, not a CAM toolpath.
pub fn cut_position(plan: &OpPlan, hole: u32, done_mm: f64) -> ([f64; 3], [f64; 2]) {
    let d = plan.diameter_mm;
    match plan.cfg.kind {
        OperationKind::Drill => {
            let row = (hole / 8) as f64;
            let col = (hole % 8) as f64;
            ([20.0 + 20.0 * col, 75.0 + 20.0 * row, -done_mm], [0.0, 0.0])
        }
        OperationKind::Contour => {
            let (w, h) = (120.0, 70.0);
            let per = 2.0 * (w + h);
            let layer = (done_mm / per).floor();
            let s = done_mm - layer * per;
            let (x, y, dir) = if s < w {
                (s, 0.0, [1.0, 0.0])
            } else if s < w + h {
                (w, s - w, [0.0, 1.0])
            } else if s < 2.0 * w + h {
                (w - (s - w - h), h, [-1.0, 0.0])
            } else {
                (0.0, h - (s - 2.0 * w - h), [0.0, -1.0])
            };
            ([40.0 + x, 40.0 + y, -plan.ap_mm * (layer + 1.0)], dir)
        }
        kind => {
            let (x0, y0, lane_len, width, step) = match kind {
                OperationKind::Face => (0.0, 0.0, 200.0, 150.0, 0.75 * plan.cfg.ae.min(d)),
                OperationKind::Slot => (40.0, 40.0, 120.0, 70.0, d),
                _ => (40.0, 40.0, 120.0, 70.0, plan.cfg.ae),
            };
            let step = step.max(0.1);
            let lanes_per_layer = (width / step).ceil().max(1.0);
            let lane = (done_mm / lane_len).floor();
            let s = done_mm - lane * lane_len;
            let layer = (lane / lanes_per_layer).floor();
            let lane_in_layer = lane - layer * lanes_per_layer;
            let forward = (lane_in_layer as u64).is_multiple_of(2);
            let x = if forward { s } else { lane_len - s };
            let dir = if forward { [1.0, 0.0] } else { [-1.0, 0.0] };
            (
                [
                    x0 + x,
                    y0 + lane_in_layer * step,
                    -plan.ap_mm * (layer + 1.0),
                ],
                dir,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioConfig;

    fn seq() -> Sequencer {
        let cfg = ScenarioConfig::default();
        Sequencer::new(&cfg.program, &cfg.tools, cfg.machine.max_speed_rpm)
    }

    #[test]
    fn plans_derive_speed_and_length() {
        let s = seq();
        // OP20: vc 220 on D 12 -> 5835.7 rpm
        assert!((s.plans[1].speed_rpm - 5835.68).abs() < 0.01);
        assert_eq!(s.plans[2].holes, 8);
        assert!((s.plans[2].ap_mm - 4.25).abs() < 1e-12);
    }

    #[test]
    fn runs_a_whole_cycle() {
        let mut s = seq();
        let mut events = Vec::new();
        for _ in 0..100_000 {
            let feed = if matches!(s.phase, Phase::Cut { .. }) {
                1000.0
            } else {
                0.0
            };
            if let Some(e) = s.advance(0.1, feed) {
                if let SeqEvent::StartOp { op } = e {
                    s.start_op(op, true);
                }
                events.push(e.clone());
                if e == SeqEvent::PartFinished {
                    break;
                }
            }
        }
        assert_eq!(s.parts, 1);
        assert_eq!(
            events,
            vec![
                SeqEvent::StartOp { op: 1 },
                SeqEvent::ToolChangeDone { op: 1 },
                SeqEvent::StartOp { op: 2 },
                SeqEvent::ToolChangeDone { op: 2 },
                SeqEvent::PartFinished,
            ]
        );
        assert!(matches!(s.phase, Phase::PartChange { .. }));
    }

    #[test]
    fn path_stays_on_the_part() {
        let s = seq();
        for plan in &s.plans {
            let mut done = 0.0;
            while done < plan.length_mm {
                let (p, _) = cut_position(plan, 3, done);
                assert!((-10.0..=220.0).contains(&p[0]), "{p:?}");
                assert!((-10.0..=220.0).contains(&p[1]), "{p:?}");
                assert!(p[2] <= 0.0 && p[2] > -50.0, "{p:?}");
                done += 1.0;
            }
        }
    }
}
