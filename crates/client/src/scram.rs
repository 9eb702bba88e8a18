//! SCRAM credentials as a Kafka admin client makes them for AlterUserScramCredentials
//! (KIP-554): a random salt and the salted password, RFC 5802's
//! `Hi(password, salt, iterations)` (PBKDF2 with HMAC-SHA-256 or HMAC-SHA-512, one block).
//! The broker derives and stores StoredKey and ServerKey from it; the password never leaves
//! the client.

use sha2::{Digest, Sha256, Sha512};

/// A SCRAM mechanism and its wire type (Kafka's `ScramMechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    /// Every mechanism Kafka knows, in type order.
    pub const ALL: [Mechanism; 2] = [Mechanism::ScramSha256, Mechanism::ScramSha512];

    /// The wire type: 1 for SCRAM-SHA-256, 2 for SCRAM-SHA-512.
    pub fn wire_type(self) -> i8 {
        match self {
            Mechanism::ScramSha256 => 1,
            Mechanism::ScramSha512 => 2,
        }
    }

    /// The mechanism of a wire type, if known.
    pub fn from_wire_type(t: i8) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.wire_type() == t)
    }

    /// The SASL name: `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a SASL name (exact, as Kafka matches it).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Fewest iterations Kafka accepts (`ScramMechanism.minIterations`).
    pub fn iterations_min(self) -> i32 {
        4096
    }
}

/// A fresh salt as Kafka's `ScramFormatter.secureRandomBytes` makes one: a random number
/// written in base 36, as UTF-8 bytes (Kafka draws 130 bits; this draws 128).
pub fn random_salt() -> Vec<u8> {
    let mut n: u128 = rand::random();
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).expect("digit below 36") as u8);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    digits
}

/// RFC 5802's `Hi(password, salt, iterations)`: the salted password, 32 bytes for
/// SCRAM-SHA-256 and 64 for SCRAM-SHA-512. `iterations` must be at least 1.
pub fn salted_password(
    mechanism: Mechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    let n = match mechanism {
        Mechanism::ScramSha256 => {
            let n = <Sha256 as Digest>::output_size();
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out[..n]);
            n
        }
        Mechanism::ScramSha512 => {
            let n = <Sha512 as Digest>::output_size();
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out[..n]);
            n
        }
    };
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc_7677_salted_password() {
        // RFC 7677 section 3: "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ== (base64), 4096 iterations.
        let salt = [
            0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36,
            0xfa, 0x81,
        ];
        assert_eq!(
            hex(&salted_password(
                Mechanism::ScramSha256,
                b"pencil",
                &salt,
                4096
            )),
            "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"
        );
        assert_eq!(
            hex(&salted_password(Mechanism::ScramSha512, b"pencil", &salt, 4096)),
            "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d"
        );
    }

    #[test]
    fn salts_are_base36_and_fresh() {
        let a = random_salt();
        let b = random_salt();
        assert_ne!(a, b);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert!(a.len() <= 25);
    }

    #[test]
    fn mechanism_names_and_types() {
        assert_eq!(
            Mechanism::from_name("SCRAM-SHA-512"),
            Some(Mechanism::ScramSha512)
        );
        assert_eq!(Mechanism::from_name("scram-sha-512"), None);
        assert_eq!(Mechanism::from_wire_type(1), Some(Mechanism::ScramSha256));
        assert_eq!(Mechanism::from_wire_type(0), None);
    }
}
