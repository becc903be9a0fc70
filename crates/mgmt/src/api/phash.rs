//! Erlang's `erlang:phash2/1` over the few term shapes binding arguments take, so that
//! `properties_key` values are RabbitMQ's own (3.10.8 hashes the sorted argument list
//! `[{Name, Type, Value}]` with it). Bob Jenkins' mix, as the BEAM's `make_hash2` uses it;
//! the expected values in the tests were computed by `erl` 25 on this machine.

/// An Erlang term, as far as AMQP tables need one.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Bin(Vec<u8>),
    Atom(&'static str),
    Int(i64),
    Float(f64),
    List(Vec<Term>),
    Tuple(Vec<Term>),
}

const HCONST: u32 = 0x9e37_79b9;
const HCONST_2: u32 = 0x3c6e_f372;
const HCONST_3: u32 = 0xdaa6_6d2b;
const HCONST_9: u32 = 0x8ff3_4781;
const HCONST_10: u32 = 0x2e2a_c13a;
const HCONST_11: u32 = 0xcc62_3af3;
const HCONST_12: u32 = 0x6a99_b4ac;
const HCONST_13: u32 = 0x08d1_2e65;
/// `phash2([])`: the empty list seen first.
const NIL_FIRST: u32 = 3_468_870_702;
/// The empty list's tag value, mixed in when it ends a list.
const NIL_TAG: u32 = 2;

fn mix(mut a: u32, mut b: u32, mut c: u32) -> (u32, u32, u32) {
    let steps: [(u32, bool); 9] = [
        (13, false),
        (8, true),
        (13, false),
        (12, false),
        (16, true),
        (5, false),
        (3, false),
        (10, true),
        (15, false),
    ];
    for (i, (shift, left)) in steps.iter().enumerate() {
        match i % 3 {
            0 => {
                a = a.wrapping_sub(b).wrapping_sub(c);
                a ^= if *left { c << shift } else { c >> shift };
            }
            1 => {
                b = b.wrapping_sub(c).wrapping_sub(a);
                b ^= if *left { a << shift } else { a >> shift };
            }
            _ => {
                c = c.wrapping_sub(a).wrapping_sub(b);
                c ^= if *left { b << shift } else { b >> shift };
            }
        }
    }
    (a, b, c)
}

fn hash2(hash: u32, x: u32, y: u32, k: u32) -> u32 {
    mix(k.wrapping_add(x), k.wrapping_add(y), hash).2
}

fn block_hash(k: &[u8], init: u32) -> u32 {
    let word = |b: &[u8]| -> u32 {
        b.iter().enumerate().fold(0u32, |acc, (i, v)| {
            acc.wrapping_add(u32::from(*v) << (8 * i))
        })
    };
    let (mut a, mut b, mut c) = (HCONST, HCONST, init);
    let mut rest = k;
    while rest.len() >= 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        (a, b, c) = mix(a, b, c);
        rest = &rest[12..];
    }
    c = c.wrapping_add(k.len() as u32);
    a = a.wrapping_add(word(&rest[..rest.len().min(4)]));
    if rest.len() > 4 {
        b = b.wrapping_add(word(&rest[4..rest.len().min(8)]));
    }
    if rest.len() > 8 {
        // The lowest byte of c holds the length.
        c = c.wrapping_add(word(&rest[8..]) << 8);
    }
    mix(a, b, c).2
}

/// The atom table's hash of an atom name (hashpjw over its bytes).
fn atom_hash(name: &str) -> u32 {
    name.bytes().fold(0u32, |h, v| {
        let h = (h << 4).wrapping_add(u32::from(v));
        let g = h & 0xf000_0000;
        match g {
            0 => h,
            _ => (h ^ (g >> 24)) ^ g,
        }
    })
}

fn int_hash(hash: u32, x: i64) -> u32 {
    if (-(1 << 27)..(1 << 27)).contains(&x) {
        let y = x as i32;
        let hash = match y < 0 {
            true => hash2(hash, y.unsigned_abs(), 0, HCONST),
            false => hash,
        };
        return hash2(hash, y as u32, 0, HCONST);
    }
    let m = x.unsigned_abs();
    let con = if x < 0 { HCONST_10 } else { HCONST_11 };
    hash2(hash, m as u32, (m >> 32) as u32, con)
}

enum Work<'a> {
    Term(&'a Term),
    Tail(&'a [Term]),
}

/// `erlang:phash2(Term)`, the full 32-bit value.
pub fn phash2(term: &Term) -> u32 {
    let mut hash = 0u32;
    let mut stack = vec![Work::Term(term)];
    while let Some(work) = stack.pop() {
        match work {
            Work::Tail([]) if hash == 0 => hash = NIL_FIRST,
            Work::Tail([]) => hash = hash2(hash, NIL_TAG, 0, HCONST_2),
            Work::Tail([head, rest @ ..]) => {
                stack.push(Work::Tail(rest));
                stack.push(Work::Term(head));
            }
            Work::Term(Term::List(items)) => stack.push(Work::Tail(items)),
            Work::Term(Term::Tuple(items)) => {
                hash = hash2(hash, items.len() as u32, 0, HCONST_9);
                stack.extend(items.iter().rev().map(Work::Term));
            }
            Work::Term(Term::Bin(b)) => {
                let con = HCONST_13.wrapping_add(hash);
                hash = if b.is_empty() {
                    con
                } else {
                    block_hash(b, con)
                };
            }
            Work::Term(Term::Atom(a)) if hash == 0 => hash = atom_hash(a),
            Work::Term(Term::Atom(a)) => hash = hash2(hash, atom_hash(a), 0, HCONST_3),
            Work::Term(Term::Int(x)) => hash = int_hash(hash, *x),
            Work::Term(Term::Float(f)) => {
                let bits = (if *f == 0.0 { 0.0f64 } else { *f }).to_bits();
                hash = hash2(hash, (bits >> 32) as u32, bits as u32, HCONST_12);
            }
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(s: &str) -> Term {
        Term::Bin(s.as_bytes().to_vec())
    }

    fn arg(k: &str, t: &'static str, v: Term) -> Term {
        Term::Tuple(vec![bin(k), Term::Atom(t), v])
    }

    #[test]
    fn matches_erlang() {
        assert_eq!(phash2(&Term::List(vec![])), 3_468_870_702);
        let one = Term::List(vec![arg("x", "longstr", bin("y"))]);
        assert_eq!(phash2(&one), 351_194_489);
        let two = Term::List(vec![
            arg("n", "long", Term::Int(1)),
            arg("x-a", "longstr", bin("b")),
        ]);
        assert_eq!(phash2(&two), 540_650_391);
        let nested = Term::List(vec![Term::Tuple(vec![Term::Atom("a")])]);
        assert_eq!(phash2(&nested), 2_681_408_672);
        assert_eq!(phash2(&Term::Int(-1_000_000_000)), 1_453_375_298);
        assert_eq!(phash2(&Term::Float(1.5)), 2_023_646_235);
        assert_eq!(phash2(&bin("hello world, this is long")), 86_224_811);
    }
}
