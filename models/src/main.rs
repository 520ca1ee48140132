fn main() {
    let dir = models::data::datasets_dir(None);
    let which = std::env::args().nth(1).unwrap_or("phm2010".into());
    let data = match which.as_str() {
        "nasa" => models::data::nasa::load(&dir, None).unwrap(),
        _ => models::data::phm2010::load(&dir, None).unwrap(),
    };
    let rep = models::evaluate::leave_one_group_out(&data, &Default::default()).unwrap();
    print!("{}", models::evaluate::render(&rep));
}
