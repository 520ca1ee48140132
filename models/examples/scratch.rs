use models::data::*;
use models::features::*;
use models::metrics::rmse;
use models::wear::*;
fn main() {
    let dir = datasets_dir(None);
    let data = if std::env::var("NASA").is_ok() { nasa::load(&dir, None).unwrap() } else { phm2010::load(&dir, None).unwrap() };
    let b: usize = std::env::var("B").ok().map(|s| s.parse().unwrap()).unwrap_or(30);
    let w: usize = std::env::var("W").ok().map(|s| s.parse().unwrap()).unwrap_or(5);
    let cfg = TrainConfig { features: FeatureOptions { baseline_cuts: b, smoothing_cuts: w }, ..Default::default() };
    for g in data.groups() {
        let (train, test) = data.split_out(&g);
        let m = WearModel::fit(&train, &cfg).unwrap();
        let mut st = FeatureState::default();
        let (mut pp, mut pl, mut pf, mut t) = (vec![], vec![], vec![], vec![]);
        let mut ts = m.new_tool(&test.class);
        for i in 0..test.len() {
            let cut = CutRecord::from_row(test.usage[i], &data.feature_names, &test.features[i]);
            let row = m.inputs.transform(&mut st, &cut).unwrap();
            let c = m.inputs.condition_values(&cut).unwrap();
            let pc = m.prior.select(&m.inputs.conditions, &c);
            let prior = m.prior.law(&test.class).predict(&m.prior.conditions, &pc, cut.usage);
            let l = m.learned.predict(&row);
            let f = m.predict_cut(&mut ts, &cut).unwrap();
            if let Some(y) = test.target[i] { pp.push(prior); pl.push(l); pf.push(f.vb.p50); t.push(y); }
        }
        let bl: Vec<f64> = pp.iter().zip(&pl).map(|(a, b)| m.prior_weight * a + (1.0 - m.prior_weight) * b).collect();
        println!("{:?}", m.prior.pooled);
        println!("{g}: prior {:.3} learned {:.3} blend(w={}) {:.3} filtered {:.3} | hyper {} sel {:?} filt {:?}", rmse(&pp, &t), rmse(&pl, &t), m.prior_weight, rmse(&bl, &t), rmse(&pf, &t), m.selection.hyper, (m.selection.inner_rmse_prior, m.selection.inner_rmse_learned, m.selection.inner_rmse_blend, m.selection.inner_rmse_filtered), m.filter);
    }
}
