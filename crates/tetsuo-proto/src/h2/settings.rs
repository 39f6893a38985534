//! SETTINGS parameters (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).

use super::ErrorCode;
use super::frame::FrameError;

/// The parameters of one SETTINGS frame: `None` for those it leaves as
/// they were. Unknown identifiers are ignored when parsing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE (1): the HPACK table the sender's
    /// decoder allows.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (2): 0 or 1 (clients only).
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (3).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (4): at most 2^31 - 1.
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (5): 16 384 to 16 777 215.
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (6): advisory.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (8, RFC 8441): extended CONNECT.
    pub enable_connect_protocol: Option<bool>,
    /// SETTINGS_NO_RFC7540_PRIORITIES (9, RFC 9218).
    pub no_rfc7540_priorities: Option<bool>,
}

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// SETTINGS_MAX_FRAME_SIZE's initial value and lower bound.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// SETTINGS_MAX_FRAME_SIZE's upper bound.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

impl Settings {
    /// Parses a SETTINGS payload (a multiple of six bytes, checked by the
    /// frame layer) and checks each value's bounds.
    pub fn parse(payload: &[u8]) -> Result<Settings, FrameError> {
        let mut s = Settings::default();
        for pair in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([pair[0], pair[1]]);
            let value = u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]);
            let flag = |v: u32| match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(FrameError::connection(ErrorCode::PROTOCOL_ERROR)),
            };
            match id {
                1 => s.header_table_size = Some(value),
                2 => s.enable_push = Some(flag(value)?),
                3 => s.max_concurrent_streams = Some(value),
                4 if value > MAX_WINDOW => {
                    return Err(FrameError::connection(ErrorCode::FLOW_CONTROL_ERROR));
                }
                4 => s.initial_window_size = Some(value),
                5 if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                    return Err(FrameError::connection(ErrorCode::PROTOCOL_ERROR));
                }
                5 => s.max_frame_size = Some(value),
                6 => s.max_header_list_size = Some(value),
                8 => s.enable_connect_protocol = Some(flag(value)?),
                9 => s.no_rfc7540_priorities = Some(flag(value)?),
                _ => {}
            }
        }
        Ok(s)
    }

    /// The number of parameters set.
    pub fn len(&self) -> usize {
        self.pairs().count()
    }

    /// True if no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameters set, as (identifier, value), in identifier order.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (1, self.header_table_size),
            (2, self.enable_push.map(u32::from)),
            (3, self.max_concurrent_streams),
            (4, self.initial_window_size),
            (5, self.max_frame_size),
            (6, self.max_header_list_size),
            (8, self.enable_connect_protocol.map(u32::from)),
            (9, self.no_rfc7540_priorities.map(u32::from)),
        ]
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    /// Appends the payload (six bytes a parameter).
    pub fn encode_payload(&self, dst: &mut Vec<u8>) {
        for (id, value) in self.pairs() {
            dst.extend_from_slice(&id.to_be_bytes());
            dst.extend_from_slice(&value.to_be_bytes());
        }
    }
}
