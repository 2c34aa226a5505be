//! The duplicate matcher on a labelled set of pairs: the thresholds are
//! chosen on one half and measured on the other, and the store's candidate
//! search is checked to find what the matcher would.
//!
//! The pairs are written here, not drawn from the matcher's own rules: base
//! companies as a sales team meets them, each entered again the ways people
//! do (accents dropped, a legal form added or changed, a typo, a different
//! case, a shared email), and companies that only look alike (Acme Tools and
//! Acme Foods, two florists at gmail.com, two firms of one group domain).

use partnerbook::duplicates::{Matcher, Probe};
use partnerbook::{PartnerDraft, Store};

/// (name, email) of companies as first entered.
const COMPANIES: &[(&str, &str)] = &[
    ("Acme Tools", "orders@acmetools.example"),
    ("Müller Maschinenbau GmbH", "info@mueller-mb.example"),
    ("Saigon Textiles JSC", "sales@saigontex.example"),
    ("Nguyễn Hoàng Trading Co., Ltd", "hoang@nhtrading.example"),
    ("Société Générale d'Équipement S.A.", "contact@sge.example"),
    ("Hanoi Steel Company", "steel@hanoisteel.example"),
    ("Pacific Shipping Pte Ltd", "ops@pacship.example"),
    ("Blue Lotus Florist", "bluelotus@gmail.com"),
    ("O'Brien & Sons Ltd", "accounts@obrien.example"),
    ("Kowalski Meble Sp", "biuro@kowalski.example"),
    ("Çelik Yapı A.S.", "info@celikyapi.example"),
    ("Grün & Partner AG", "office@gruen-partner.example"),
    ("Tanaka Seiki KK", "tanaka@seiki.example"),
    ("Mekong Agro Export", "export@mekongagro.example"),
    ("Northwind Traders Inc.", "orders@northwind.example"),
    ("Contoso Pharmaceuticals", "buy@contoso.example"),
    ("Fabrikam Furniture LLC", "sales@fabrikam.example"),
    ("Da Nang Seafood Processing", "dnsf@yahoo.com"),
    ("Bảo Minh Packaging", "baominh@bmpack.example"),
    ("Rossi & Figli S.r.l.", "info@rossifigli.example"),
    ("Zhang Wei Electronics", "zhangwei@qq.com"),
    ("Lakeside Dairy Co-op", "milk@lakeside.example"),
    ("Hoang Long Logistics", "hl@hoanglong.example"),
    ("Sunrise Garments", "sunrise.garments@gmail.com"),
    ("Dubois Vins SARL", "cave@duboisvins.example"),
    ("Andersen Trælast A/S", "salg@andersen-trae.example"),
    ("Vina Coffee Roasters", "roast@vinacoffee.example"),
    ("Quick Print Shop", "quickprint@outlook.com"),
    ("García Hermanos S.L.", "pedidos@garciahnos.example"),
    ("Thai Binh Cement", "tbc@tbcement.example"),
];

/// Companies that look alike but are not one: (a, b) with their emails.
const LOOKALIKES: &[((&str, &str), (&str, &str))] = &[
    (("Acme Tools", "orders@acmetools.example"), ("Acme Foods", "orders@acmefoods.example")),
    (("Pacific Shipping Pte Ltd", "ops@pacship.example"), ("Pacific Trading Pte Ltd", "ops@pactrade.example")),
    (("Global Logistics", "info@globallog.example"), ("Global Logic", "info@globallogic.example")),
    (("Nam Long Textiles", "nl@namlongtex.example"), ("Nam Long Plastics", "nl@namlongplastic.example")),
    (("Blue Lotus Florist", "bluelotus@gmail.com"), ("Blue Orchid Florist", "blueorchid@gmail.com")),
    (("Sunrise Garments", "sunrise.garments@gmail.com"), ("Sunset Garments", "sunset.garments@gmail.com")),
    (("Vingroup Retail", "retail@vingroup.example"), ("Vingroup Motors", "motors@vingroup.example")),
    (("Hanoi Steel Company", "steel@hanoisteel.example"), ("Hanoi Stone Company", "stone@hanoistone.example")),
    (("Mekong Agro Export", "export@mekongagro.example"), ("Mekong Aqua Export", "export@mekongaqua.example")),
    (("Contoso Pharmaceuticals", "buy@contoso.example"), ("Contoso Pharmacy", "shop@contosopharmacy.example")),
    (("Thai Binh Cement", "tbc@tbcement.example"), ("Thai Binh Seeds", "tbs@tbseeds.example")),
    (("Rossi & Figli S.r.l.", "info@rossifigli.example"), ("Russo & Figli S.r.l.", "info@russofigli.example")),
    (("Quick Print Shop", "quickprint@outlook.com"), ("Quick Pint Pub", "quickpint@outlook.com")),
    (("Green Leaf Tea", "tea@greenleaf.example"), ("Green Leaf Spa", "spa@greenleafspa.example")),
    (("Delta Marine", "info@deltamarine.example"), ("Delta Machines", "info@deltamachines.example")),
    (("Asia Pacific Foods", "apf@apfoods.example"), ("Asia Pacific Fuels", "apf@apfuels.example")),
    (("Bright Star Electronics", "bse@brightstar.example"), ("Bright Star Education", "bse@brightstaredu.example")),
    (("Lotus Hotel Danang", "stay@lotushotel.example"), ("Lotus Hotel Hue", "stay@lotushue.example")),
    (("Phoenix Paper", "paper@phoenix.example"), ("Phoenix Power", "power@phoenixpower.example")),
    (("Tan Phat Construction", "tp@tanphat.example"), ("Tan Phu Construction", "tp@tanphu.example")),
    (("Golden Rice Mill", "mill@goldenrice.example"), ("Golden Rice Bar", "bar@goldenricebar.example")),
    (("ABC Trading", "abc@abctrading.example"), ("ABD Trading", "abd@abdtrading.example")),
    (("Minh Anh Foods", "ma@minhanh.example"), ("Minh Chau Foods", "mc@minhchau.example")),
    (("Sea Breeze Resort", "info@seabreeze.example"), ("Sea Breeze Realty", "sales@seabreezerealty.example")),
    (("Info Desk", "info@gmail.com"), ("Help Desk", "help@gmail.com")),
    (("United Metals", "um@unitedmetals.example"), ("United Medals", "um@unitedmedals.example")),
    (("Star Logistics", "ops@starlog.example"), ("Starlight Logistics", "ops@starlightlog.example")),
    (("Viet Hung Plastics", "vh@viethung.example"), ("Viet Hoa Plastics", "vh@viethoa.example")),
    (("Kim Long Jewelry", "kl@kimlong.example"), ("Kim Long Pharmacy", "kl@kimlongpharma.example")),
    (("Coastal Fisheries", "cf@coastal.example"), ("Coastal Ferries", "cf@coastalferries.example")),
];

/// A deterministic typo: one character dropped, doubled, swapped with the
/// next, or replaced by a neighbour on the keyboard, at a position that
/// depends on `n` (never the first letter: people rarely mistype that).
fn typo(name: &str, n: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    let letters: Vec<usize> = (1..chars.len()).filter(|i| chars[*i].is_alphabetic()).collect();
    let at = letters[(n * 7 + 3) % letters.len()];
    let mut out = chars.clone();
    match n % 4 {
        0 => {
            out.remove(at);
        }
        1 => out.insert(at, chars[at]),
        2 if at + 1 < chars.len() => out.swap(at, at + 1),
        _ => {
            let neighbour = |c: char| match c.to_ascii_lowercase() {
                'a' => 's',
                'e' => 'r',
                'i' => 'o',
                'o' => 'p',
                'n' => 'm',
                's' => 'a',
                't' => 'y',
                'r' => 't',
                'l' => 'k',
                'c' => 'v',
                _ => 'e',
            };
            out[at] = neighbour(chars[at]);
        }
    }
    out.into_iter().collect()
}

/// How people enter a company again: `(name, email)` from the first entry.
fn reentries(name: &str, email: &str, n: usize) -> Vec<(String, String)> {
    let plain: String = unicode_plain(name);
    let without_form = name
        .split([',', ' '])
        .filter(|w| !["GmbH", "JSC", "Ltd", "Inc.", "S.A.", "LLC", "KK", "AG"].contains(w))
        .collect::<Vec<_>>()
        .join(" ");
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    vec![
        (plain.clone(), format!("someone.else@{domain}")),
        (name.to_uppercase(), email.to_uppercase()),
        (format!("{} Co., Ltd", without_form.trim()), format!("accounts@{domain}")),
        (typo(name, n), format!("other{n}@{domain}")),
        (typo(&plain, n + 1), email.to_string()),
        (name.replace(' ', "-"), format!("x{n}@elsewhere{n}.example")),
        // A typo, entered with the buyer's own mailbox: only the name can tell.
        (typo(name, n + 2), format!("buyer{n}@gmail.com")),
        (typo(&plain, n + 3), format!("purchasing{n}@outlook.com")),
    ]
}

/// Accents removed the way a keyboard without them types the name.
fn unicode_plain(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ü' => 'u',
            'ễ' | 'é' | 'É' => 'e',
            'à' | 'ả' => 'a',
            'ç' | 'Ç' => 'c',
            'ı' => 'i',
            'ù' | 'ú' => 'u',
            'ó' | 'ò' => 'o',
            'í' => 'i',
            'æ' => 'a',
            'ø' => 'o',
            'á' => 'a',
            'ă' => 'a',
            'ạ' => 'a',
            'ồ' => 'o',
            'Đ' => 'D',
            'đ' => 'd',
            other => other,
        })
        .collect()
}

/// The labelled pairs: (a, b, the same company?).
fn labelled() -> Vec<((String, String), (String, String), bool)> {
    let mut pairs = Vec::new();
    for (n, (name, email)) in COMPANIES.iter().enumerate() {
        for again in reentries(name, email, n) {
            pairs.push(((name.to_string(), email.to_string()), again, true));
        }
    }
    for ((a, ae), (b, be)) in LOOKALIKES {
        pairs.push(((a.to_string(), ae.to_string()), (b.to_string(), be.to_string()), false));
    }
    // Unrelated companies, each against a few others.
    for (i, (a, ae)) in COMPANIES.iter().enumerate() {
        for step in [1, 7, 13] {
            let (b, be) = COMPANIES[(i + step) % COMPANIES.len()];
            pairs.push(((a.to_string(), ae.to_string()), (b.to_string(), be.to_string()), false));
        }
    }
    pairs
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    true_pos: u32,
    false_pos: u32,
    false_neg: u32,
}

impl Counts {
    fn precision(&self) -> f64 {
        f64::from(self.true_pos) / f64::from((self.true_pos + self.false_pos).max(1))
    }
    fn recall(&self) -> f64 {
        f64::from(self.true_pos) / f64::from((self.true_pos + self.false_neg).max(1))
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn measure(matcher: &Matcher, pairs: &[&((String, String), (String, String), bool)]) -> Counts {
    let mut c = Counts::default();
    for ((a, ae), (b, be), same) in pairs {
        let found = matcher.assess(&Probe::new(a, ae), &Probe::new(b, be)).is_some();
        match (found, same) {
            (true, true) => c.true_pos += 1,
            (true, false) => c.false_pos += 1,
            (false, true) => c.false_neg += 1,
            (false, false) => {}
        }
    }
    c
}

#[test]
fn thresholds_chosen_on_one_half_hold_on_the_other() {
    let pairs = labelled();
    assert!(pairs.len() >= 200, "{} pairs", pairs.len());
    // Interleaved halves: each kind of variation falls on both sides.
    let train: Vec<_> = pairs.iter().step_by(2).collect();
    let test: Vec<_> = pairs.iter().skip(1).step_by(2).collect();
    // The best F1 on the training half; where several thresholds tie, the
    // middle of the tied range (a threshold at its edge is one pair from worse).
    let grid = |name: u32, domain: u32| Matcher {
        similar_name: f64::from(name) / 100.0,
        similar_name_same_domain: f64::from(domain) / 100.0,
    };
    let scores: Vec<(u32, u32, f64)> = (80..=99)
        .flat_map(|name| (70..=95).map(move |domain| (name, domain)))
        .map(|(name, domain)| (name, domain, measure(&grid(name, domain), &train).f1()))
        .collect();
    let top = scores.iter().map(|s| s.2).fold(0.0, f64::max);
    let tied: Vec<&(u32, u32, f64)> = scores.iter().filter(|s| (s.2 - top).abs() < 1e-9).collect();
    let names: Vec<u32> = tied.iter().map(|s| s.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let name = names[names.len() / 2];
    let domains: Vec<u32> = tied.iter().filter(|s| s.0 == name).map(|s| s.1).collect();
    let chosen = grid(name, domains[domains.len() / 2]);
    let best = (chosen, top);
    let held_out = measure(&chosen, &test);
    eprintln!(
        "duplicate matcher: {} pairs ({} train, {} test); chosen on train: name ≥ {:.2}, same domain ≥ {:.2} \
         (train F1 {:.3}); on test: precision {:.3}, recall {:.3} ({:?})",
        pairs.len(),
        train.len(),
        test.len(),
        chosen.similar_name,
        chosen.similar_name_same_domain,
        best.1,
        held_out.precision(),
        held_out.recall(),
        held_out,
    );
    for ((a, ae), (b, be), same) in &test {
        if chosen.assess(&Probe::new(a, ae), &Probe::new(b, be)).is_some() != *same {
            eprintln!("  {}: {a} <{ae}> / {b} <{be}>", if *same { "missed" } else { "taken for one" });
        }
    }
    let default = Matcher::default();
    assert!(
        (default.similar_name - chosen.similar_name).abs() < 0.005
            && (default.similar_name_same_domain - chosen.similar_name_same_domain).abs() < 0.005,
        "Matcher::default() {default:?} is not what the training half picks: {chosen:?}"
    );
    assert!(held_out.precision() >= 0.9, "{held_out:?}");
    assert!(held_out.recall() >= 0.8, "{held_out:?}");
}

/// The store's candidate search finds what the matcher would, among stored
/// partners (unsynced ones included), and leaves out the one being edited.
#[test]
fn the_store_finds_the_candidates_the_matcher_needs() {
    let mut store = Store::open_in_memory().unwrap();
    let draft = |name: &str, email: &str| PartnerDraft {
        company_name: name.into(),
        sales_amount: "1".into(),
        partner_type: "customer".into(),
        email: email.into(),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    };
    let mut keys = Vec::new();
    for (name, email) in COMPANIES {
        keys.push(store.create_partner(&draft(name, email), None).unwrap().key);
    }
    // Some filler, so candidates must be searched for, not all read.
    for i in 0..500 {
        store.create_partner(&draft(&format!("Filler Company {i}"), &format!("f{i}@filler.example")), None).unwrap();
    }
    let mut missed = Vec::new();
    for (n, (name, email)) in COMPANIES.iter().enumerate() {
        for (again, again_email) in reentries(name, email, n) {
            let expected = Matcher::default().assess(&Probe::new(name, email), &Probe::new(&again, &again_email));
            if expected.is_none() {
                continue;
            }
            let found = store.possible_duplicates(&again, &again_email, None).unwrap();
            if !found.iter().any(|d| d.key == keys[n]) {
                missed.push(format!("{again} <{again_email}> should find {name}"));
            }
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
    // The partner being edited is not its own duplicate.
    let (name, email) = COMPANIES[0];
    assert!(store.possible_duplicates(name, email, Some(keys[0])).unwrap().iter().all(|d| d.key != keys[0]));
    // Nothing alike, nothing found.
    assert!(store.possible_duplicates("Zebra Quantum Widgets", "z@zqw.example", None).unwrap().is_empty());
}

/// The organization form asks the same way, by name and billing email.
#[test]
fn organizations_are_looked_for_by_name_and_billing_email() {
    let mut store = Store::open_in_memory().unwrap();
    let org = |name: &str, billing: Option<&str>| -> partnerbook::OrganizationDraft {
        serde_json::from_value(serde_json::json!({
            "name": name, "type": "F", "address": "1 Le Loi", "country": "VN", "phone": "+84 1",
            "billing_email": billing, "contacts": [{"firstName": "Lan"}]
        }))
        .unwrap()
    };
    let saigon = store.create_organization(&org("Saigon Textiles JSC", Some("ap@saigontex.example"))).unwrap().key;
    store.create_organization(&org("Hanoi Steel", None)).unwrap();
    let found = store.possible_duplicate_organizations("SAIGON TEXTILES", "", None).unwrap();
    assert_eq!(found.iter().map(|d| d.key).collect::<Vec<_>>(), [saigon]);
    let by_email = store.possible_duplicate_organizations("Other Name", "AP@saigontex.example", None).unwrap();
    assert_eq!(by_email.first().map(|d| d.key), Some(saigon));
    assert!(store.possible_duplicate_organizations("Saigon Textiles", "", Some(saigon)).unwrap().is_empty());
}
