"""Acoustic-emission processing logs as the lab's pipeline writes them: one workbook per
participant, knee and maneuver (`ManeuverProcessingLog.save_to_excel`, headers as its
records' `to_dict` labels them), and a per-study workbook whose headers are the records'
field names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]

Sheet = Sequence[dict[str, Any]]

T0 = datetime(2024, 1, 1, 10, 0, 0)
AUDIO_PICKLE = b"pickled audio of 1011, left walk"
SYNC_PICKLE = b"pickled synchronization of pass 1"


def write_workbook(path: Path, sheets: dict[str, Sheet]) -> Path:
    """One sheet per entry, its first row the union of its rows' keys, as pandas'
    `DataFrame.to_excel(index=False)` writes a list of dicts (a missing value: an empty
    cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        headers = list(dict.fromkeys(name for row in rows for name in row))
        sheet.append(headers)
        for row in rows:
            sheet.append([row.get(name) for name in headers])
    workbook.save(path)
    return path


def _audio_labels(**more: Any) -> dict[str, Any]:
    return {
        "Study": "AOA",
        "Study ID": 1011,
        "Linked Biomechanics": True,
        "Audio File": "AE01_20240101_100000.bin",
        "Device Serial": "SN123",
        "Firmware Version": 1,
        "File Time": T0,
        "File Size (MB)": 100.0,
        "Recording Date": datetime(2024, 1, 1),
        "Recording Time": T0,
        "Knee": "left",
        "Maneuver": "walk",
        "Sample Rate (Hz)": 46875.0,
        "Channels": 4,
        "Mic 1 Position": "IPM",
        "Mic 2 Position": "IPL",
        "Mic 3 Position": "SPM",
        "Mic 4 Position": "SPL",
        **more,
    }


def maneuver_log(directory: Path) -> Path:
    """Participant 1011's left walk: one audio recording of the whole walk, the
    biomechanics of passes 1 and 2, the synchronizations of passes 1 to 3 (the third has
    no biomechanics) and the cycles of passes 1 and 2 (one ends before it starts)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "audio.pkl").write_bytes(AUDIO_PICKLE)
    (directory / "Left_walk_Pass0001_slow.pkl").write_bytes(SYNC_PICKLE)
    audio = _audio_labels(
        **{
            "Pickle File": "audio.pkl",
            "Processing Date": datetime(2024, 1, 2, 9, 0),
            "Status": "success",
            "Duration (s)": 120.0,
            "Audio QC Version": 1,
            "Audio QC Fail Segments": "[(1.0, 2.0)]",
            "Audio QC Fail Segments Ch1": "[(1.0, 2.0)]",
            "Audio QC Fail Segments Ch2": "[]",
            "Audio QC Fail Segments Ch3": "[]",
            "Audio QC Fail Segments Ch4": "[]",
            "Audio Signal Dropout Ch1": True,
            "Audio Signal Dropout Segments Ch1": "[(10.0, 16.0)]",
            "Audio Signal Dropout Ch2": False,
            "Audio Signal Dropout Segments Ch2": "[]",
            "Audio Artifact Ch2": True,
            "Audio Artifact Type Ch2": "intermittent",
            "QC_not_passed": True,
            "QC_not_passed_mic_1": True,
            "QC_not_passed_mic_2": False,
            "QC_not_passed_mic_3": False,
            "QC_not_passed_mic_4": False,
        }
    )
    biomechanics = [
        {
            "Study": "AOA",
            "Study ID": 1011,
            "Biomechanics File": "AOA1011_Biomechanics_Full_Set.xlsx",
            "Sheet Name": "Walk0001",
            "Processing Date": datetime(2024, 1, 2, 9, 5),
            "Status": "success",
            "Maneuver": "walk",
            "Pass Number": number,
            "Speed": speed,
            "Num Sub-Recordings": 1,
            "Sample Rate (Hz)": 100.0,
        }
        for number, speed in ((1, "slow"), (2, "fast"))
    ]
    syncs = [
        _audio_labels(
            **{
                "Pass Number": number,
                "Speed": speed,
                "Audio Sync Time (s)": 5.0 + number,
                "Sync Offset (s)": 1.25 * number,
                "Bio Left Sync Time (s)": 3.75,
                "Bio Right Sync Time (s)": 9.0,
                "Sync Method": "consensus",
                "Consensus Methods": "rms, onset",
                "Consensus Time (s)": 5.5,
                "RMS Time (s)": 5.4,
                "Sync File": f"Left_walk_Pass000{number}_{speed}",
                "Processing Date": datetime(2024, 1, 2, 10, 0),
                "Processing Status": "success",
                "Total Cycles Extracted": 2,
                "Sync QC Fail": number == 2,
                "Record Type": "sync_with_cycles",
            }
        )
        for number, speed in ((1, "slow"), (2, "fast"), (3, "medium"))
    ]
    cycles = [
        _audio_labels(
            **{
                "Pass Number": number,
                "Speed": speed,
                "Sync File": f"Left_walk_Pass000{number}_{speed}",
                "Cycle File": f"cycles/pass{number}_cycle{index}.pkl",
                "Cycle Index": index,
                "Is Outlier": outlier,
                "Start (s)": start,
                "End (s)": end,
                "Duration (s)": end - start,
                "Biomechanics QC Fail": False,
                "Sync QC Fail": False,
                "Study ID": 1011,
                "Log Updated": datetime(2024, 1, 2, 11, 0),
            }
        )
        for number, speed, index, outlier, start, end in (
            (1, "slow", 0, False, 0.5, 1.6),
            (1, "slow", 1, True, 1.6, 2.9),
            (2, "fast", 0, False, 3.0, 2.0),
            (2, "fast", 1, False, 4.0, 4.9),
        )
    ]
    return write_workbook(
        directory / "processing_log_1011_Left_walk.xlsx",
        {
            "Summary": [{"Study ID": 1011, "Knee Side": "Left", "Maneuver": "walk"}],
            "Audio": [audio],
            "Biomechanics": biomechanics,
            "Synchronization": syncs,
            "Movement Cycles": cycles,
        },
    )


def study_log(path: Path) -> Path:
    """A per-study workbook with the records' field names as headers: participant 1012's
    right sit-to-stand (audio, biomechanics, synchronization, a cycles summary and two
    cycle details without an index), 1013 (named AOA1013) on its left flexion-extension,
    and rows the unified model refuses."""
    audio = {
        "study": "AOA",
        "device_serial": "SN200",
        "firmware_version": 2,
        "num_channels": 2,
        "mic_1_position": "IPM",
        "mic_2_position": "SPL",
        "recording_time": datetime(2024, 2, 1, 14, 30),
        "qc_fail_segments": "[]",
    }
    return write_workbook(
        path,
        {
            "audio_processing": [
                {**audio, "study_id": 1012, "knee": "right", "maneuver": "sts"},
                {**audio, "study_id": "AOA1013", "knee": "left", "maneuver": "fe"},
                {**audio, "study_id": 1014, "knee": "both", "maneuver": "fe"},
                {**audio, "study_id": 1014, "knee": "left", "maneuver": "jog"},
                {**audio, "study_id": "abc", "knee": "left", "maneuver": "fe"},
                {
                    **audio,
                    "study_id": 1014,
                    "knee": "left",
                    "maneuver": "fe",
                    "qc_fail_segments": "[(4.0, 3.0)]",
                },
                {**audio, "study_id": 1015, "knee": "left", "maneuver": "fe", "pass_number": 1},
            ],
            "biomechanics_import": [
                {
                    "study": "AOA",
                    "study_id": 1012,
                    "knee": "right",
                    "maneuver": "sts",
                    "biomechanics_file": "AOA1012_Biomechanics_Full_Set.xlsx",
                    "num_sub_recordings": 1,
                }
            ],
            "synchronization": [
                {
                    "study": "AOA",
                    "study_id": 1012,
                    "knee": "right",
                    "maneuver": "sts",
                    "sync_file_name": "1012_sts.pkl",
                    "audio_sync_time": 2.0,
                    "sync_offset": -0.5,
                    "aligned_biomechanics_sync_time": 2.5,
                    "sync_method": "biomechanics",
                    "sync_qc_fail": False,
                }
            ],
            "movement_cycles": [
                {
                    "study": "AOA",
                    "study_id": 1012,
                    "knee": "right",
                    "maneuver": "sts",
                    "sync_file_name": "1012_sts",
                    "total_cycles_extracted": 2,
                    "clean_cycles": 2,
                }
            ],
            "cycle_details": [
                {
                    "study": "AOA",
                    "study_id": 1012,
                    "knee": "right",
                    "maneuver": "sts",
                    "start_time_s": start,
                    "end_time_s": end,
                    "is_outlier": False,
                    "acoustic_auc": auc,
                }
                for start, end, auc in ((1.0, 3.5, 0.25), (3.5, 6.0, 0.5))
            ],
        },
    )


def unnamed_log(directory: Path) -> Path:
    """A workbook that names no study: its rows take --study's, but for one whose
    participant id names its study."""
    return write_workbook(
        directory / "processing_log_2001_Right_fe.xlsx",
        {
            "Summary": [{"Study ID": 2001, "Knee Side": "Right", "Maneuver": "fe"}],
            "Audio": [
                {"Audio File": "AE09.bin", "Channels": 1, "Mic 1 Position": "SPM"},
                # an id that names its study keeps it
                {"Audio File": "AE10.bin", "Study ID": "#SMoCK3001"},
            ],
            "Biomechanics": [{"Note": "No biomechanics import recorded"}],
        },
    )
