//! `strom consumer-groups`: Kafka's `kafka-consumer-groups.sh` (ConsumerGroupCommand): list
//! groups (`--list`, `--state`), describe them (`--describe` with `--offsets`, the default,
//! `--members` or `--state`, and `--verbose`), reset their offsets (`--reset-offsets` with
//! one scenario, `--dry-run` by default or `--execute`, refused while the group has members),
//! delete groups (`--delete`) and a group's offsets (`--delete-offsets`), with Kafka's flags,
//! column layout and messages. Failures are one line on stderr and exit 1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::groups::{
    error_message, exception_text, CommittedOffset, GroupDescription, TopicPartition,
};
use strom_client::{topics_of, Client};

use super::common;
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to."),
    arg("group", "String: consumer group", "The consumer group we wish to act on."),
    arg("topic", "String: topic", "The topic whose consumer group information should be deleted or topic whose should be included in the reset offset process. In `reset-offsets` case, partitions can be specified using this format: `topic1:0,1,2`, where 0,1,2 are the partition to be included in the process. Reset-offsets also supports multiple topic inputs."),
    flag("all-topics", "Consider all topics assigned to a group in the `reset-offsets` process."),
    flag("list", "List all consumer groups."),
    flag("describe", "Describe consumer group and list offset lag (number of messages not yet processed) related to given group."),
    flag("all-groups", "Apply to all consumer groups."),
    flag("delete", "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group. For instance --group g1 --group g2"),
    arg("timeout", "Long: timeout (ms)", "The timeout that can be set for some use cases. For example, it can be used when describing the group to specify the maximum amount of time in milliseconds to wait before the group stabilizes (when the group is just created, or is going through some changes). (default: 5000)"),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client and Consumer."),
    flag("reset-offsets", "Reset offsets of consumer group. Supports one consumer group at the time, and instances should be inactive. Has 2 execution options: --dry-run (the default) to plan which offsets to reset, and --execute to update the offsets. Additionally, the --export option is used to export the results to a CSV format. You must choose one of the following reset specifications: --to-datetime, --by-duration, --to-earliest, --to-latest, --shift-by, --from-file, --to-current, --to-offset. To define the scope use --all-topics or --topic. One scope must be specified unless you use '--from-file'."),
    flag("delete-offsets", "Delete offsets of consumer group. Supports one consumer group at the time, and multiple topics."),
    flag("dry-run", "Only show results without executing changes on Consumer Groups. Supported operations: reset-offsets."),
    flag("execute", "Execute operation. Supported operations: reset-offsets."),
    flag("export", "Export operation execution to a CSV file. Supported operations: reset-offsets."),
    arg("to-offset", "Long: offset", "Reset offsets to a specific offset."),
    arg("from-file", "String: path to CSV file", "Reset offsets to values defined in CSV file."),
    arg("to-datetime", "String: datetime", "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'"),
    arg("by-duration", "String: duration", "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"),
    flag("to-earliest", "Reset offsets to earliest offset."),
    flag("to-latest", "Reset offsets to latest offset."),
    flag("to-current", "Reset offsets to current offset."),
    arg("shift-by", "Long: number-of-offsets", "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative."),
    flag("members", "Describe members of the group. This option may be used with '--describe' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --members"),
    flag("verbose", "Provide additional information, if any, when describing the group. This option may be used with '--offsets'/'--members'/'--state' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --members --verbose"),
    flag("offsets", "Describe the group and list all topic partitions in the group along with their offset lag. This is the default sub-action of and may be used with '--describe' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --offsets"),
    flag("state", "[String: state] When specified with '--describe', includes the state of the group. Example: --bootstrap-server localhost:9092 --describe --group group1 --state. When specified with '--list', it displays the state of all groups. It can also be used to list groups with specific states. Example: --bootstrap-server localhost:9092 --list --state stable,empty. This option may be used with '--describe', '--list' and '--bootstrap-server' options only."),
    flag("type", "[String: type] When specified with '--list', it displays the types of all the groups. It can also be used to list groups with specific types (classic, consumer). This option may be used with the '--list' option only."),
    arg("validate-regex", "String: regex", "Validate that the syntax of the provided regular expression is valid according to the RE2 format."),
];

const EXAMPLES: &str = "\
  strom consumer-groups --bootstrap-server localhost:9092 --list --state
  strom consumer-groups --bootstrap-server localhost:9092 --describe --group orders-app
  strom consumer-groups --bootstrap-server localhost:9092 --describe --group orders-app --members --verbose
  strom consumer-groups --bootstrap-server localhost:9092 --reset-offsets --group orders-app --topic orders --to-earliest --execute
  strom consumer-groups --bootstrap-server localhost:9092 --delete --group orders-app
";

/// Kafka's placeholder for a missing column value.
const MISSING: &str = "-";

const ACTIONS: [&str; 6] = [
    "list",
    "describe",
    "delete",
    "reset-offsets",
    "delete-offsets",
    "validate-regex",
];

const SCENARIOS: [&str; 8] = [
    "to-offset",
    "to-datetime",
    "by-duration",
    "to-earliest",
    "to-latest",
    "to-current",
    "shift-by",
    "from-file",
];

/// The consumer-group states Kafka's tool accepts for `--list --state`.
const STATES: [&str; 7] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];

/// Splits the optional value of flag `name` (`state`, `type`) out of `args`: jopt's optional
/// argument, the next word when it is not a flag, or `--name=value`. The shared parser then
/// sees a plain flag.
fn split_optional(args: &[String], name: &str) -> (Vec<String>, Option<String>) {
    let flag = format!("--{name}");
    let inline = format!("--{name}=");
    let mut out = Vec::with_capacity(args.len());
    let mut value = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(v) = a.strip_prefix(&inline) {
            out.push(flag.clone());
            value = Some(v.to_string());
        } else if *a == flag {
            out.push(a.clone());
            if let Some(next) = args.get(i + 1) {
                if !next.starts_with('-') {
                    value = Some(next.clone());
                    i += 1;
                }
            }
        } else {
            out.push(a.clone());
        }
        i += 1;
    }
    (out, value)
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (args, state_value) = split_optional(args, "state");
    let (args, type_value) = split_optional(&args, "type");
    let p = match opts::parse("consumer-groups", USAGE, OPTS, EXAMPLES, &args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    if args.is_empty() {
        anyhow::bail!("{USAGE} See 'strom consumer-groups --help'");
    }
    if let Some(re) = p.value("validate-regex") {
        check_actions(&p)?;
        match regex::Regex::new(re) {
            Ok(_) => println!("The regular expression `{re}` is valid."),
            Err(e) => println!(
                "The regular expression `{re}` is invalid: {}.",
                e.to_string().lines().last().unwrap_or("")
            ),
        }
        return Ok(());
    }
    check_args(&p, state_value.as_deref())?;
    check_actions(&p)?;
    // Values are checked before any connection is made.
    if let Some(dt) = p.value("to-datetime") {
        parse_datetime(dt)?;
    }
    if let Some(d) = p.value("by-duration") {
        parse_duration(d)?;
    }
    p.number::<i64>("to-offset")?;
    p.number::<i64>("shift-by")?;
    // After every check, so that a refused command prints one line.
    if p.has("reset-offsets") && !p.has("dry-run") && !p.has("execute") {
        eprintln!("WARN: No action will be performed as the --execute option is missing.In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.");
    }
    common::block_on(async {
        let mut client = connect(&p).await?;
        if p.has("list") {
            list(
                &mut client,
                &p,
                state_value.as_deref(),
                type_value.as_deref(),
            )
            .await
        } else if p.has("describe") {
            describe(&mut client, &p).await
        } else if p.has("delete") {
            delete(&mut client, &p).await
        } else if p.has("reset-offsets") {
            reset(&mut client, &p).await
        } else {
            delete_offsets(&mut client, &p).await
        }
    })
}

async fn connect(p: &Parsed) -> anyhow::Result<Client> {
    let Some(bootstrap) = p.value("bootstrap-server") else {
        anyhow::bail!(
            "Missing required argument \"[bootstrap-server]\"; add --bootstrap-server <host:port>"
        );
    };
    let mut props = match p.value("command-config") {
        Some(path) => common::load_properties(path)?,
        None => BTreeMap::new(),
    };
    if let Some(ms) = p.number::<u64>("timeout")? {
        props
            .entry("request.timeout.ms".into())
            .or_insert(ms.to_string());
    }
    Ok(Client::connect(bootstrap, common::client_config(&props)).await?)
}

fn check_actions(p: &Parsed) -> anyhow::Result<()> {
    if ACTIONS.iter().filter(|a| p.has(a)).count() != 1 {
        anyhow::bail!(
            "Command must include exactly one action: {}",
            ACTIONS
                .iter()
                .map(|a| format!("--{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `CommandLineUtils.checkInvalidArgs`: `used` may not appear with any of `invalid`.
fn check_invalid(p: &Parsed, used: &str, invalid: &[&str]) -> anyhow::Result<()> {
    if p.has(used) {
        if let Some(bad) = invalid.iter().find(|o| p.has(o)) {
            anyhow::bail!("Option \"[{used}]\" can't be used with option \"[{bad}]\"");
        }
    }
    Ok(())
}

/// Kafka's `ConsumerGroupCommandOptions.checkArgs`.
fn check_args(p: &Parsed, state_value: Option<&str>) -> anyhow::Result<()> {
    if !p.has("bootstrap-server") {
        anyhow::bail!(
            "Missing required argument \"[bootstrap-server]\"; add --bootstrap-server <host:port>"
        );
    }
    let scope = p.has("group") || p.has("all-groups");
    for sub in ["members", "verbose", "offsets"] {
        if p.has(sub) && !p.has("describe") {
            anyhow::bail!("Option [{sub}] is available only when [describe] is present");
        }
    }
    if p.has("state") && !p.has("describe") && !p.has("list") {
        anyhow::bail!("Option [state] is available only when [describe] or [list] is present");
    }
    if p.has("type") && !p.has("list") {
        anyhow::bail!("Option [type] is available only when [list] is present");
    }
    if p.has("describe") {
        if !scope {
            anyhow::bail!("Option [describe] takes one of these options: [all-groups], [group]");
        }
        if ["members", "offsets", "state"]
            .iter()
            .filter(|o| p.has(o))
            .count()
            > 1
        {
            anyhow::bail!(
                "Option [describe] takes at most one of these options: [members], [offsets], [state]"
            );
        }
        if p.has("state") && state_value.is_some() {
            anyhow::bail!("Option [describe] does not take a value for [state]");
        }
    }
    if p.has("delete") {
        if !scope {
            anyhow::bail!("Option [delete] takes one of these options: [all-groups], [group]");
        }
        if p.has("topic") {
            anyhow::bail!("The consumer does not support topic-specific offset deletion from a consumer group.");
        }
    }
    if p.has("delete-offsets") && (!p.has("group") || !p.has("topic")) {
        anyhow::bail!("Option [delete-offsets] takes the following options: [group], [topic]");
    }
    if p.has("reset-offsets") {
        if p.has("dry-run") && p.has("execute") {
            anyhow::bail!("Option [reset-offsets] only accepts one of [execute] and [dry-run]");
        }
        if !scope {
            anyhow::bail!(
                "Option [reset-offsets] takes one of these options: [all-groups], [group]"
            );
        }
        for s in SCENARIOS {
            let others: Vec<&str> = SCENARIOS.iter().copied().filter(|o| *o != s).collect();
            check_invalid(p, s, &others)?;
        }
    }
    check_invalid(p, "group", &["all-groups"])?;
    check_invalid(p, "group", &["list"])?;
    check_invalid(p, "topic", &["list", "describe"])?;
    Ok(())
}

/// Consumer groups: protocol type "consumer", or empty for groups that only commit offsets.
fn is_consumer_group(protocol_type: &str) -> bool {
    protocol_type.is_empty() || protocol_type == "consumer"
}

/// Kafka's `GroupState.parse`-checked list of `--state` values, in canonical spelling.
fn parse_states(input: &str) -> anyhow::Result<Vec<String>> {
    input
        .split(',')
        .map(|s| {
            let s = s.trim();
            STATES
                .iter()
                .find(|v| v.eq_ignore_ascii_case(s))
                .map(|v| v.to_string())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "Invalid state list '{input}'. Valid states are: {}",
                        STATES.join(", ")
                    )
                })
        })
        .collect()
}

async fn list(
    client: &mut Client,
    p: &Parsed,
    state_value: Option<&str>,
    type_value: Option<&str>,
) -> anyhow::Result<()> {
    let states = match state_value {
        Some(v) if !v.is_empty() => parse_states(v)?,
        _ => Vec::new(),
    };
    let with_type = p.has("type");
    let types: Vec<String> = match type_value {
        Some(t) if !t.is_empty() => t
            .split(',')
            .map(|s| {
                let s = s.trim().to_ascii_lowercase();
                if s == "classic" || s == "consumer" {
                    Ok(s)
                } else {
                    Err(anyhow::anyhow!(
                        "Invalid types list '{t}'. Valid types are: classic, consumer"
                    ))
                }
            })
            .collect::<anyhow::Result<_>>()?,
        _ => Vec::new(),
    };
    let groups: Vec<_> = client
        .list_groups(&states)
        .await?
        .into_iter()
        .filter(|g| is_consumer_group(&g.protocol_type))
        .filter(|g| {
            let ty = if g.group_type.is_empty() {
                "classic"
            } else {
                g.group_type.as_str()
            };
            types.is_empty() || types.iter().any(|t| t == ty)
        })
        .collect();
    if !with_type && !p.has("state") {
        for g in &groups {
            println!("{}", g.group_id);
        }
        return Ok(());
    }
    let width = groups
        .iter()
        .map(|g| g.group_id.len().max(15))
        .max()
        .unwrap_or(15)
        + 10;
    let line = |id: &str, ty: &str, state: &str| {
        let mut s = format!("{id:<width$}");
        if with_type {
            s.push_str(&format!(" {ty:<20}"));
        }
        if p.has("state") {
            s.push_str(&format!(" {state:<20}"));
        }
        s
    };
    println!("{}", line("GROUP", "TYPE", "STATE"));
    for g in &groups {
        let ty = if g.group_type.is_empty() {
            "Classic".to_string()
        } else {
            capitalize(&g.group_type)
        };
        let state = if g.state.is_empty() {
            "Unknown"
        } else {
            g.state.as_str()
        };
        println!("{}", line(&g.group_id, &ty, state));
    }
    Ok(())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The groups of `--group` (repeatable) or, with `--all-groups`, every consumer group.
async fn group_ids(client: &mut Client, p: &Parsed) -> anyhow::Result<Vec<String>> {
    if p.has("all-groups") {
        Ok(client
            .list_groups(&[])
            .await?
            .into_iter()
            .filter(|g| is_consumer_group(&g.protocol_type))
            .map(|g| g.group_id)
            .collect())
    } else {
        Ok(p.values("group").to_vec())
    }
}

/// Kafka's `shouldPrintMemberState`: prints the state notice (to stderr) and says whether
/// rows follow. Errors: the group does not exist.
fn member_state_notice(group: &str, state: &str, rows: usize) -> anyhow::Result<bool> {
    match state {
        "Dead" => anyhow::bail!("Error: Consumer group '{group}' does not exist."),
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    Ok(rows > 0)
}

async fn describe(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let groups: BTreeSet<String> = group_ids(client, p).await?.into_iter().collect();
    let verbose = p.has("verbose");
    let mut failures = Vec::new();
    for g in &groups {
        let r = if p.has("members") {
            describe_members(client, g, verbose).await
        } else if p.has("state") {
            describe_state(client, g, verbose).await
        } else {
            describe_offsets(client, g, verbose).await
        };
        if let Err(e) = r {
            if groups.len() == 1 {
                return Err(e);
            }
            eprintln!("{e:#}");
            failures.push(g.clone());
        }
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "Error: describing failed for group(s) {}",
            failures.join(", ")
        );
    }
    Ok(())
}

/// One row of `--describe --offsets`.
struct OffsetRow {
    topic: Option<String>,
    partition: Option<i32>,
    leader_epoch: Option<i32>,
    offset: Option<i64>,
    log_end: Option<i64>,
    consumer_id: String,
    host: String,
    client_id: String,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| MISSING.to_string(), T::to_string)
}

/// The rows of `--describe --offsets`, as Kafka's `collectGroupsOffsets`: members with an
/// assignment, most partitions first, each partition of theirs sorted; then partitions with
/// a committed offset that no member owns.
async fn offset_rows(
    client: &mut Client,
    desc: &GroupDescription,
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
) -> anyhow::Result<Vec<OffsetRow>> {
    let mut all: Vec<TopicPartition> = committed.keys().cloned().collect();
    for m in &desc.members {
        all.extend(m.assignment.iter().cloned());
    }
    all.sort();
    all.dedup();
    let log_end = list_offsets(client, &all, -1).await?;
    let row = |tp: &TopicPartition, consumer: &str, host: &str, client_id: &str| {
        let c = committed.get(tp);
        OffsetRow {
            topic: Some(tp.0.clone()),
            partition: Some(tp.1),
            leader_epoch: c.map(|c| c.leader_epoch).filter(|e| *e >= 0),
            offset: c.map(|c| c.offset),
            log_end: log_end.get(tp).copied(),
            consumer_id: consumer.to_string(),
            host: host.to_string(),
            client_id: client_id.to_string(),
        }
    };
    let mut members: Vec<_> = desc
        .members
        .iter()
        .filter(|m| !m.assignment.is_empty())
        .collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut rows = Vec::new();
    let mut assigned = BTreeSet::new();
    for m in members {
        for tp in &m.assignment {
            assigned.insert(tp.clone());
            rows.push(row(tp, &m.member_id, &m.host, &m.client_id));
        }
    }
    for tp in committed.keys().filter(|tp| !assigned.contains(*tp)) {
        rows.push(row(tp, MISSING, MISSING, MISSING));
    }
    Ok(rows)
}

async fn describe_offsets(client: &mut Client, group: &str, verbose: bool) -> anyhow::Result<()> {
    let desc = client.describe_group(group).await?;
    if desc.state == "Dead" {
        member_state_notice(group, &desc.state, 0)?;
    }
    let committed = client.fetch_offsets(group).await?;
    let rows = offset_rows(client, &desc, &committed).await?;
    if !member_state_notice(group, &desc.state, rows.len())? {
        return Ok(());
    }
    print!("{}", offsets_table(group, &rows, verbose));
    Ok(())
}

/// Kafka's `printOffsets` text for one group: every line starts with a newline, and a final
/// newline closes the table.
fn offsets_table(group: &str, rows: &[OffsetRow], verbose: bool) -> String {
    let w = |f: &dyn Fn(&OffsetRow) -> usize| rows.iter().map(f).max().unwrap_or(0).max(15);
    let gw = group.len().max(15);
    let tw = w(&|r| r.topic.as_deref().unwrap_or(MISSING).len());
    let cw = w(&|r| r.consumer_id.len());
    let hw = w(&|r| r.host.len());
    let line = |cols: [&str; 10]| {
        let [g, t, p, e, o, leo, lag, c, h, cl] = cols;
        if verbose {
            format!("\n{g:<gw$} {t:<tw$} {p:<10} {e:<15} {o:<15} {leo:<15} {lag:<15} {c:<cw$} {h:<hw$} {cl}")
        } else {
            format!(
                "\n{g:<gw$} {t:<tw$} {p:<10} {o:<15} {leo:<15} {lag:<15} {c:<cw$} {h:<hw$} {cl}"
            )
        }
    };
    let mut out = line([
        "GROUP",
        "TOPIC",
        "PARTITION",
        "LEADER-EPOCH",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for r in rows {
        let lag = match (r.offset, r.log_end) {
            (Some(o), Some(end)) if o != -1 => Some(end - o),
            _ => None,
        };
        out.push_str(&line([
            group,
            r.topic.as_deref().unwrap_or(MISSING),
            &opt(&r.partition),
            &opt(&r.leader_epoch),
            &opt(&r.offset),
            &opt(&r.log_end),
            &opt(&lag),
            &r.consumer_id,
            &r.host,
            &r.client_id,
        ]));
    }
    out.push('\n');
    out
}

/// Kafka's `getAssignmentString`: `topic:0,1;other:2`, topics sorted.
fn assignment_string(a: &[TopicPartition]) -> String {
    if a.is_empty() {
        return MISSING.to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in a {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}:{}", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

async fn describe_members(client: &mut Client, group: &str, verbose: bool) -> anyhow::Result<()> {
    let desc = client.describe_group(group).await?;
    if !member_state_notice(group, &desc.state, desc.members.len())? {
        return Ok(());
    }
    print!("{}", members_table(&desc, verbose));
    Ok(())
}

/// Kafka's `printMembers` text for one group (classic members: no epochs, no target
/// assignment).
fn members_table(desc: &GroupDescription, verbose: bool) -> String {
    let ms = &desc.members;
    let w = |min: usize, f: &dyn Fn(&strom_client::groups::GroupMember) -> usize| {
        ms.iter().map(f).max().unwrap_or(0).max(min)
    };
    let gw = desc.group_id.len().max(15);
    let cw = w(15, &|m| m.member_id.len());
    let iw = w(17, &|m| m.group_instance_id.as_deref().unwrap_or("").len());
    let hw = w(15, &|m| m.host.len());
    let clw = w(15, &|m| m.client_id.len());
    let aw = w(20, &|m| assignment_string(&m.assignment).len());
    let tw = 20;
    let with_instance = ms.iter().any(|m| {
        m.group_instance_id
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    });
    let head = |g: &str, c: &str, i: &str, h: &str, cl: &str, n: &str| {
        if with_instance {
            format!("{g:<gw$} {c:<cw$} {i:<iw$} {h:<hw$} {cl:<clw$} {n:<15} ")
        } else {
            format!("{g:<gw$} {c:<cw$} {h:<hw$} {cl:<clw$} {n:<15} ")
        }
    };
    let tail =
        |ce: &str, ca: &str, te: &str, ta: &str| format!("{ce:<15} {ca:<aw$} {te:<15} {ta:<tw$}");
    let mut out = String::from("\n");
    out.push_str(&head(
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        "#PARTITIONS",
    ));
    if verbose {
        out.push_str(&tail(
            "CURRENT-EPOCH",
            "CURRENT-ASSIGNMENT",
            "TARGET-EPOCH",
            "TARGET-ASSIGNMENT",
        ));
    }
    out.push('\n');
    for m in ms {
        out.push_str(&head(
            &desc.group_id,
            &m.member_id,
            m.group_instance_id.as_deref().unwrap_or(""),
            &m.host,
            &m.client_id,
            &m.assignment.len().to_string(),
        ));
        if verbose {
            out.push_str(&tail(
                MISSING,
                &assignment_string(&m.assignment),
                MISSING,
                MISSING,
            ));
        }
        out.push('\n');
    }
    out
}

async fn describe_state(client: &mut Client, group: &str, verbose: bool) -> anyhow::Result<()> {
    let desc = client.describe_group(group).await?;
    member_state_notice(group, &desc.state, 1)?;
    print!("{}", state_table(&desc, verbose));
    Ok(())
}

/// Kafka's `printStates` text for one group.
fn state_table(desc: &GroupDescription, verbose: bool) -> String {
    let c = &desc.coordinator;
    let coordinator = format!("{}:{}  ({})", c.host, c.port, c.node_id);
    let cw = coordinator.len().max(25);
    let gw = desc.group_id.len().max(15);
    let strategy = if desc.protocol.is_empty() {
        MISSING
    } else {
        desc.protocol.as_str()
    };
    let members = desc.members.len().to_string();
    let mut out = String::new();
    if verbose {
        for cols in [
            [
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "GROUP-EPOCH",
                "TARGET-ASSIGNMENT-EPOCH",
                "#MEMBERS",
            ],
            [
                &desc.group_id,
                &coordinator,
                strategy,
                &desc.state,
                MISSING,
                MISSING,
                &members,
            ],
        ] {
            let [g, co, a, s, ge, te, n] = cols;
            out.push_str(&format!(
                "\n{g:<gw$} {co:<cw$} {a:<20} {s:<20} {ge:<15} {te:<25} {n}"
            ));
        }
    } else {
        for cols in [
            [
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "#MEMBERS",
            ],
            [
                &desc.group_id,
                &coordinator,
                strategy,
                &desc.state,
                &members,
            ],
        ] {
            let [g, co, a, s, n] = cols;
            out.push_str(&format!("\n{g:<gw$} {co:<cw$} {a:<20} {s:<20} {n}"));
        }
    }
    out.push('\n');
    out
}

/// ListOffsets at `timestamp` (-1 latest, -2 earliest, or ms) for `partitions`, at each
/// partition's leader. Partitions that do not exist or answer an error are left out (Kafka's
/// `Unknown`); an offset of -1 (no record at or after the timestamp) is kept.
async fn list_offsets(
    client: &mut Client,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut out = BTreeMap::new();
    if partitions.is_empty() {
        return Ok(out);
    }
    let topics: Vec<String> = partitions
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let md = client.metadata(Some(&topics)).await?;
    let mut leaders: BTreeMap<TopicPartition, i32> = BTreeMap::new();
    for t in topics_of(&md) {
        for p in &t.partitions {
            leaders.insert((t.name.clone(), p.partition), p.leader);
        }
    }
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for tp in partitions {
        if let Some(&leader) = leaders.get(tp) {
            if leader >= 0 {
                by_leader
                    .entry(leader)
                    .or_default()
                    .entry(&tp.0)
                    .or_default()
                    .push(tp.1);
            }
        }
    }
    for (leader, topics) in by_leader {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(p)
                                            .with_timestamp(timestamp)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = client.send_to(leader, &req).await?;
        for t in resp.topics {
            for pr in t.partitions {
                if pr.error_code == 0 {
                    out.insert((t.name.0.to_string(), pr.partition_index), pr.offset);
                }
            }
        }
    }
    Ok(out)
}

/// The partitions of `topics` (whole topics) from metadata. Errors: a topic that does not
/// exist.
async fn topic_partitions(
    client: &mut Client,
    topics: &[String],
) -> anyhow::Result<Vec<TopicPartition>> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let md = client.metadata(Some(topics)).await?;
    let mut out = Vec::new();
    for t in topics_of(&md) {
        if t.error_code != 0 {
            anyhow::bail!(
                "Error: Executing consumer group command failed due to {}",
                exception_text(t.error_code)
            );
        }
        out.extend(t.partitions.iter().map(|p| (t.name.clone(), p.partition)));
    }
    Ok(out)
}

/// Kafka's `parseTopicsWithPartitions`: `topic:0,1,2`.
fn parse_topic_with_partitions(arg: &str) -> anyhow::Result<Vec<TopicPartition>> {
    let parts: Vec<&str> = arg.split(':').collect();
    let [topic, partitions] = parts[..] else {
        anyhow::bail!("Invalid topic arg '{arg}', expected topic name and partitions");
    };
    partitions
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .map(|n| (topic.to_string(), n))
                .map_err(|_| {
                    anyhow::anyhow!("Invalid partition '{p}' specified in topic arg '{arg}''")
                })
        })
        .collect()
}

/// `--topic` values (`t` or `t:0,1`) to partitions, as Kafka's `parseTopicPartitionsToReset`.
async fn parse_topics(client: &mut Client, args: &[String]) -> anyhow::Result<Vec<TopicPartition>> {
    let mut out = Vec::new();
    let mut whole = Vec::new();
    for a in args {
        if a.contains(':') {
            out.extend(parse_topic_with_partitions(a)?);
        } else {
            whole.push(a.clone());
        }
    }
    out.extend(topic_partitions(client, &whole).await?);
    Ok(out)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Kafka's `Utils.getDateTime`: `YYYY-MM-DDTHH:mm:SS[.sss][Z|±hh:mm|±hhmm|±hh]`, UTC when
/// no zone is given. Returns ms since the epoch.
fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    let bad = || {
        anyhow::anyhow!("Unparseable date: \"{s}\"; use the format 'YYYY-MM-DDTHH:mm:SS.sss', optionally followed by Z or an offset such as +02:00")
    };
    let Some((date, time)) = s.split_once('T') else {
        anyhow::bail!(
            "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format: {s}"
        );
    };
    let num = |v: &str, len: usize| -> anyhow::Result<i64> {
        if v.len() != len || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        v.parse::<i64>().map_err(|_| bad())
    };
    let dp: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = dp[..] else {
        return Err(bad());
    };
    let (y, mo, d) = (num(y, 4)?, num(mo, 2)?, num(d, 2)?);
    let (clock, zone_ms) = match time.find(['Z', '+', '-']) {
        None => (time, 0),
        Some(i) => {
            let (clock, zone) = time.split_at(i);
            let z = if zone == "Z" {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let digits = zone[1..].replace(':', "");
                let (h, m) = match digits.len() {
                    2 => (num(&digits, 2)?, 0),
                    4 => (num(&digits[..2], 2)?, num(&digits[2..], 2)?),
                    _ => return Err(bad()),
                };
                sign * (h * 3600 + m * 60) * 1000
            };
            (clock, z)
        }
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, ms)) => (hms, num(ms, 3)?),
        None => (clock, 0),
    };
    let tp: Vec<&str> = hms.split(':').collect();
    let [h, mi, sec] = tp[..] else {
        return Err(bad());
    };
    let (h, mi, sec) = (num(h, 2)?, num(mi, 2)?, num(sec, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    Ok(secs * 1000 + millis - zone_ms)
}

/// Java's `Duration.parse` (`PnDTnHnMn.nS`, optional leading sign, signed parts) in ms.
fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let bad = || {
        anyhow::anyhow!("Text cannot be parsed to a Duration: {s}; use the format 'PnDTnHnMnS', e.g. PT15M or P1DT2H")
    };
    let upper = s.trim().to_ascii_uppercase();
    let (neg, rest) = match upper.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad());
            }
            (d, t)
        }
        None => (rest, ""),
    };
    let mut total: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> anyhow::Result<()> {
        let mut num = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
                num.push(c);
                continue;
            }
            let idx = units[next_unit..]
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(bad)?
                + next_unit;
            let v: f64 = num.parse().map_err(|_| bad())?;
            total += v * units[idx].1;
            any = true;
            num.clear();
            next_unit = idx + 1;
        }
        if num.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    take(days_part, &[('D', 86_400_000.0)])?;
    take(
        time_part,
        &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)],
    )?;
    if !any {
        return Err(bad());
    }
    let ms = total.round() as i64;
    Ok(if neg { -ms } else { ms })
}

/// Kafka's `checkOffsetsRange`: offsets past the log end go to the log end, offsets before
/// the log start to the log start, each with a warning.
async fn clamp_offsets(
    client: &mut Client,
    requested: BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let tps: Vec<TopicPartition> = requested.keys().cloned().collect();
    let starts = list_offsets(client, &tps, -2).await?;
    let ends = list_offsets(client, &tps, -1).await?;
    let mut out = BTreeMap::new();
    for (tp, off) in requested {
        let name = format!("{}-{}", tp.0, tp.1);
        let v = match (ends.get(&tp), starts.get(&tp)) {
            (Some(&end), _) if off > end => {
                eprintln!("WARN New offset ({off}) is higher than latest offset for topic partition {name}. Value will be set to {end}.");
                end
            }
            (_, Some(&start)) if off < start => {
                eprintln!("WARN New offset ({off}) is lower than earliest offset for topic partition {name}. Value will be set to {start}.");
                start
            }
            _ => off,
        };
        out.insert(tp, v);
    }
    Ok(out)
}

/// Offsets at `timestamp`, falling back to the log end for partitions with no record at or
/// after it (Kafka's `getLogTimestampOffsets`).
async fn offsets_for_time(
    client: &mut Client,
    tps: &[TopicPartition],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let found = list_offsets(client, tps, timestamp).await?;
    let mut out = BTreeMap::new();
    let mut empty = Vec::new();
    for tp in tps {
        match found.get(tp) {
            Some(&o) if o != -1 => {
                out.insert(tp.clone(), o);
            }
            _ => {
                println!(
                    "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.",
                    tp.1, tp.0
                );
                empty.push(tp.clone());
            }
        }
    }
    out.extend(list_offsets(client, &empty, -1).await?);
    Ok(out)
}

/// Every partition of `tps` from `offsets`; a missing one is Kafka's "Error getting ...
/// offset of topic partition".
fn all_of(
    tps: &[TopicPartition],
    offsets: &BTreeMap<TopicPartition, i64>,
    what: &str,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    tps.iter()
        .map(|tp| match offsets.get(tp) {
            Some(&o) => Ok((tp.clone(), o)),
            None => Err(anyhow::anyhow!(
                "Error getting {what} of topic partition: {}-{}",
                tp.0,
                tp.1
            )),
        })
        .collect()
}

/// Reads `--from-file`: `topic,partition,offset` lines (one group) or
/// `group,topic,partition,offset` lines.
fn read_plan(
    path: &str,
    groups: &[String],
) -> anyhow::Result<BTreeMap<String, BTreeMap<TopicPartition, i64>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read reset plan {path}: {e}"))?;
    let mut plan: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || {
            anyhow::anyhow!("{path} line {}: expected topic,partition,offset or group,topic,partition,offset, got '{line}'", n + 1)
        };
        let (g, t, p, o) = match f[..] {
            [t, p, o] if groups.len() == 1 => (groups[0].as_str(), t, p, o),
            [g, t, p, o] => (g, t, p, o),
            _ => return Err(bad()),
        };
        let p: i32 = p.parse().map_err(|_| bad())?;
        let o: i64 = o.parse().map_err(|_| bad())?;
        plan.entry(g.to_string())
            .or_default()
            .insert((t.to_string(), p), o);
    }
    Ok(plan)
}

/// The new offsets of `group` for the chosen scenario (Kafka's `prepareOffsetsToReset`).
async fn prepare_reset(
    client: &mut Client,
    p: &Parsed,
    group: &str,
    plan: Option<&BTreeMap<String, BTreeMap<TopicPartition, i64>>>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    if let Some(plan) = plan {
        let Some(for_group) = plan.get(group) else {
            anyhow::bail!("Error: No reset plan for group {group} found.");
        };
        return clamp_offsets(client, for_group.clone()).await;
    }
    let committed = client.fetch_offsets(group).await?;
    let mut tps: Vec<TopicPartition> = if p.has("all-topics") {
        committed.keys().cloned().collect()
    } else if p.has("topic") {
        parse_topics(client, p.values("topic")).await?
    } else {
        anyhow::bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    };
    tps.sort();
    tps.dedup();
    // checkAllTopicPartitionsValid
    let topics: Vec<String> = tps
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let existing: BTreeSet<TopicPartition> = if topics.is_empty() {
        BTreeSet::new()
    } else {
        let md = client.metadata(Some(&topics)).await?;
        topics_of(&md)
            .iter()
            .filter(|t| t.error_code == 0)
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
            .collect()
    };
    let missing: Vec<String> = tps
        .iter()
        .filter(|tp| !existing.contains(*tp))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partitions \"{}\" do not exist",
            missing.join(",")
        );
    }
    if let Some(off) = p.number::<i64>("to-offset")? {
        return clamp_offsets(client, tps.iter().map(|tp| (tp.clone(), off)).collect()).await;
    }
    if p.has("to-earliest") {
        let o = list_offsets(client, &tps, -2).await?;
        return all_of(&tps, &o, "starting offset");
    }
    if p.has("to-latest") {
        let o = list_offsets(client, &tps, -1).await?;
        return all_of(&tps, &o, "ending offset");
    }
    if let Some(shift) = p.number::<i64>("shift-by")? {
        let mut requested = BTreeMap::new();
        for tp in &tps {
            let Some(c) = committed.get(tp) else {
                anyhow::bail!(
                    "Cannot shift offset for partition {}-{} since there is no current committed offset",
                    tp.0,
                    tp.1
                );
            };
            requested.insert(tp.clone(), c.offset.saturating_add(shift));
        }
        return clamp_offsets(client, requested).await;
    }
    if let Some(dt) = p.value("to-datetime") {
        let ts = parse_datetime(dt)?;
        let o = offsets_for_time(client, &tps, ts).await?;
        return all_of(&tps, &o, "offset by timestamp");
    }
    if let Some(d) = p.value("by-duration") {
        let ts = now_ms() - parse_duration(d)?;
        let o = offsets_for_time(client, &tps, ts).await?;
        return all_of(&tps, &o, "offset by timestamp");
    }
    if p.has("to-current") {
        let without: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| !committed.contains_key(*tp))
            .cloned()
            .collect();
        let ends = list_offsets(client, &without, -1).await?;
        let mut out = all_of(&without, &ends, "ending offset")?;
        for tp in &tps {
            if let Some(c) = committed.get(tp) {
                out.insert(tp.clone(), c.offset);
            }
        }
        return Ok(out);
    }
    anyhow::bail!(
        "Option '[reset-offsets]' requires one of the following scenarios: {}",
        SCENARIOS
            .iter()
            .map(|s| format!("[{s}]"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Kafka's `printOffsetsToReset`.
fn reset_table(plans: &BTreeMap<String, BTreeMap<TopicPartition, i64>>) -> String {
    let gw = plans.keys().map(String::len).max().unwrap_or(0).max(15);
    let tw = plans
        .values()
        .flat_map(|m| m.keys().map(|(t, _)| t.len()))
        .max()
        .unwrap_or(0)
        .max(15);
    let mut out = String::new();
    if !plans.is_empty() {
        out.push_str(&format!(
            "\n{:<gw$} {:<tw$} {:<10} {}",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
        ));
    }
    for (g, m) in plans {
        for ((t, p), o) in m {
            out.push_str(&format!("\n{g:<gw$} {t:<tw$} {p:<10} {o}"));
        }
    }
    out.push('\n');
    out
}

async fn reset(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let groups = group_ids(client, p).await?;
    let plan = match p.value("from-file") {
        Some(path) => Some(read_plan(path, &groups)?),
        None => None,
    };
    let execute = p.has("execute");
    let mut plans: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    let mut errors = Vec::new();
    for g in &groups {
        let desc = client.describe_group(g).await?;
        if desc.state != "Empty" && desc.state != "Dead" {
            errors.push(format!(
                "Error: Assignments can only be reset if the group '{g}' is inactive, but the current state is {}.",
                desc.state
            ));
            continue;
        }
        let offsets = prepare_reset(client, p, g, plan.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        if execute && !offsets.is_empty() {
            client.commit_offsets(g, &offsets).await.map_err(|e| {
                anyhow::anyhow!("Error: Executing consumer group command failed due to {e}")
            })?;
        }
        plans.insert(g.clone(), offsets);
    }
    if p.has("export") {
        let single = p.values("group").len() == 1;
        let mut out = String::new();
        for (g, m) in &plans {
            for ((t, part), o) in m {
                if single {
                    out.push_str(&format!("{t},{part},{o}\n"));
                } else {
                    out.push_str(&format!("{g},{t},{part},{o}\n"));
                }
            }
        }
        println!("{out}");
    } else if !plans.is_empty() {
        print!("{}", reset_table(&plans));
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join(" "));
    }
    Ok(())
}

async fn delete(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let groups = group_ids(client, p).await?;
    let results = client.delete_groups(&groups).await?;
    let quoted = |gs: Vec<&String>| {
        gs.iter()
            .map(|g| format!("'{g}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ok: Vec<&String> = results
        .iter()
        .filter(|(_, c)| *c == 0)
        .map(|(g, _)| g)
        .collect();
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, c)| *c != 0)
        .map(|(g, c)| {
            format!(
                "* Group '{g}' could not be deleted due to: {}",
                exception_text(*c)
            )
        })
        .collect();
    if failed.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            quoted(ok)
        );
        return Ok(());
    }
    if !ok.is_empty() {
        println!(
            "These consumer groups were deleted successfully: {}",
            quoted(ok)
        );
    }
    anyhow::bail!(
        "Error: Deletion of some consumer groups failed: {}",
        failed.join(" ")
    )
}

async fn delete_offsets(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let group = p.required("group")?.to_string();
    let mut partitions: BTreeSet<TopicPartition> = BTreeSet::new();
    // Per-partition outcome: None for success, Some(text) for an error; partition -1 for a
    // topic that could not be described.
    let mut status: BTreeMap<TopicPartition, Option<String>> = BTreeMap::new();
    let mut whole = Vec::new();
    for t in p.values("topic") {
        if t.contains(':') {
            partitions.extend(parse_topic_with_partitions(t)?);
        } else {
            whole.push(t.clone());
        }
    }
    if !whole.is_empty() {
        let md = client.metadata(Some(&whole)).await?;
        for t in topics_of(&md) {
            if t.error_code != 0 {
                status.insert((t.name.clone(), -1), Some(exception_text(t.error_code)));
            } else {
                partitions.extend(t.partitions.iter().map(|pi| (t.name.clone(), pi.partition)));
            }
        }
    }
    let list: Vec<TopicPartition> = partitions.iter().cloned().collect();
    let top = if list.is_empty() {
        3
    } else {
        let r = client.delete_offsets(&group, &list).await?;
        for tp in &list {
            let code = match r.partitions.get(tp) {
                Some(&c) if c != 0 => c,
                Some(_) if r.error_code == 0 => 0,
                _ => r.error_code,
            };
            status.insert(tp.clone(), (code != 0).then(|| exception_text(code)));
        }
        if r.error_code != 0 {
            r.error_code
        } else {
            r.partitions
                .values()
                .copied()
                .find(|c| *c != 0)
                .unwrap_or(0)
        }
    };
    let tw = status
        .keys()
        .map(|(t, _)| t.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let mut table = format!("\n{:<tw$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS");
    let mut rows: Vec<_> = status.iter().collect();
    // Kafka sorts by topic name concatenated with the partition number.
    rows.sort_by_key(|((t, p), _)| format!("{t}{p}"));
    for ((t, part), st) in rows {
        let part = if *part >= 0 {
            part.to_string()
        } else {
            MISSING.to_string()
        };
        let st = match st {
            None => "Successful".to_string(),
            Some(e) => format!("Error: {e}"),
        };
        table.push_str(&format!("\n{t:<tw$} {part:<10} {st:<15}"));
    }
    table.push('\n');
    match top {
        0 if status.values().all(Option::is_none) => {
            println!("Request succeeded for deleting offsets from group {group}.");
            print!("{table}");
            Ok(())
        }
        24 | 69 | 30 | 68 => {
            print!("{table}");
            anyhow::bail!("Error: {}", error_message(top))
        }
        0 | 86 | 29 | 3 => {
            print!("{table}");
            anyhow::bail!(
                "Error: Encountered some partition-level error, see the follow-up details."
            )
        }
        c => {
            print!("{table}");
            anyhow::bail!(
                "Error: Encountered some unknown error: {}",
                strom_client::error_name(c)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::groups::GroupMember;
    use strom_client::BrokerInfo;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn parsed(a: &[&str]) -> (Parsed, Option<String>) {
        let (a, state) = split_optional(&args(a), "state");
        match opts::parse("consumer-groups", USAGE, OPTS, "", &a, false).unwrap() {
            Parse::Run(p) => (p, state),
            Parse::Done => panic!("help"),
        }
    }

    fn check(a: &[&str]) -> anyhow::Result<()> {
        let (p, s) = parsed(a);
        check_args(&p, s.as_deref())?;
        check_actions(&p)
    }

    #[test]
    fn state_takes_an_optional_value() {
        let (p, s) = parsed(&[
            "--list",
            "--state",
            "stable,empty",
            "--bootstrap-server",
            "x:1",
        ]);
        assert!(p.has("state") && p.has("list"));
        assert_eq!(s.as_deref(), Some("stable,empty"));
        let (p, s) = parsed(&["--describe", "--state", "--group", "g"]);
        assert!(p.has("state") && s.is_none());
        assert_eq!(p.value("group"), Some("g"));
        assert_eq!(parse_states("stable, EMPTY").unwrap(), ["Stable", "Empty"]);
        assert!(parse_states("bogus")
            .unwrap_err()
            .to_string()
            .starts_with("Invalid state list 'bogus'. Valid states are: "));
    }

    #[test]
    fn argument_checks_use_kafkas_messages() {
        let e = |a: &[&str]| check(a).unwrap_err().to_string();
        assert_eq!(
            e(&["--bootstrap-server", "x:1", "--describe"]),
            "Option [describe] takes one of these options: [all-groups], [group]"
        );
        assert!(e(&["--describe", "--group", "g"])
            .starts_with("Missing required argument \"[bootstrap-server]\""));
        assert_eq!(
            e(&[
                "--bootstrap-server",
                "x:1",
                "--reset-offsets",
                "--group",
                "g",
                "--to-earliest",
                "--shift-by",
                "1",
                "--execute"
            ]),
            "Option \"[to-offset]\" can't be used with option \"[shift-by]\""
                .replace("to-offset", "to-earliest")
        );
        assert_eq!(
            e(&[
                "--bootstrap-server",
                "x:1",
                "--list",
                "--describe",
                "--group",
                "g"
            ]),
            "Option \"[topic]\" can't be used with option \"[list]\"".replace("topic", "group")
        );
        assert!(e(&["--bootstrap-server", "x:1", "--group", "g"])
            .starts_with("Command must include exactly one action: --list, --describe"));
        assert_eq!(
            e(&[
                "--bootstrap-server",
                "x:1",
                "--delete-offsets",
                "--group",
                "g"
            ]),
            "Option [delete-offsets] takes the following options: [group], [topic]"
        );
        assert!(check(&[
            "--bootstrap-server",
            "x:1",
            "--describe",
            "--group",
            "g",
            "--members",
            "--verbose"
        ])
        .is_ok());
    }

    #[test]
    fn datetimes_and_durations() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(parse_datetime("1970-01-01T00:00:01").unwrap(), 1000);
        assert_eq!(
            parse_datetime("2020-02-29T12:00:00.250+02:00").unwrap(),
            1_582_977_600_250 - 2 * 3_600_000
        );
        assert_eq!(
            parse_datetime("2020-02-29T12:00:00.250Z").unwrap(),
            1_582_977_600_250
        );
        assert!(parse_datetime("2020-02-29").is_err());
        assert!(parse_datetime("2020-13-01T00:00:00").is_err());
        assert_eq!(parse_duration("PT15M").unwrap(), 900_000);
        assert_eq!(parse_duration("P1DT2H").unwrap(), 93_600_000);
        assert_eq!(parse_duration("PT0.5S").unwrap(), 500);
        assert_eq!(parse_duration("-PT1S").unwrap(), -1000);
        assert!(parse_duration("15m").is_err());
        assert!(parse_duration("P").is_err());
        assert!(parse_duration("PT").is_err());
    }

    #[test]
    fn topic_partition_args() {
        assert_eq!(
            parse_topic_with_partitions("t:0,2").unwrap(),
            vec![("t".to_string(), 0), ("t".to_string(), 2)]
        );
        assert!(parse_topic_with_partitions("t:x").is_err());
        assert!(parse_topic_with_partitions("a:b:1").is_err());
    }

    #[test]
    fn offsets_table_matches_kafka_layout() {
        let rows = vec![
            OffsetRow {
                topic: Some("t".into()),
                partition: Some(0),
                leader_epoch: None,
                offset: Some(3),
                log_end: Some(10),
                consumer_id: "-".into(),
                host: "-".into(),
                client_id: "-".into(),
            },
            OffsetRow {
                topic: Some("t".into()),
                partition: Some(1),
                leader_epoch: None,
                offset: None,
                log_end: Some(4),
                consumer_id: "-".into(),
                host: "-".into(),
                client_id: "-".into(),
            },
        ];
        let t = offsets_table("g", &rows, false);
        let lines: Vec<&str> = t.split('\n').collect();
        assert_eq!(lines[0], "");
        assert_eq!(
            lines[1],
            "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID"
        );
        assert_eq!(
            lines[2],
            "g               t               0          3               10              7               -               -               -"
        );
        assert_eq!(
            lines[3],
            "g               t               1          -               4               -               -               -               -"
        );
        assert_eq!(lines[4], "");
    }

    #[test]
    fn members_and_state_tables() {
        let desc = GroupDescription {
            group_id: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![GroupMember {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                host: "/127.0.0.1".into(),
                assignment: vec![("t".into(), 1), ("t".into(), 0), ("u".into(), 2)],
            }],
            coordinator: BrokerInfo {
                node_id: 1,
                host: "localhost".into(),
                port: 9092,
                rack: None,
            },
        };
        let m = members_table(&desc, true);
        assert!(m.starts_with("\nGROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     CURRENT-EPOCH   CURRENT-ASSIGNMENT   TARGET-EPOCH    TARGET-ASSIGNMENT   \n"), "{m:?}");
        assert!(m.contains("g               m-1             /127.0.0.1      c               3               -               t:0,1;u:2            -               -                   \n"), "{m:?}");
        let s = state_table(&desc, false);
        assert_eq!(
            s,
            "\nGROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\ng               localhost:9092  (1)       range                Stable               1\n"
        );
    }

    #[test]
    fn reset_plan_table() {
        let mut plans = BTreeMap::new();
        plans.insert(
            "g".to_string(),
            BTreeMap::from([(("t".to_string(), 0), 5i64)]),
        );
        assert_eq!(
            reset_table(&plans),
            "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\ng               t               0          5\n"
        );
    }
}
