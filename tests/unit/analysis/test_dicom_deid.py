"""DICOM header PHI as entities, and the de-identified derivative (PS3.15 basic profile, clean pixels)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from tests.dicom_files import build

from sealroom.analysis.dicom_deid import deidentify, profile, resolve
from sealroom.analysis.dicom_phi import header_entities
from sealroom.config import LimitSettings
from sealroom.masking import mask_value
from sealroom.vault.dicom import read_dataset

LIMITS = LimitSettings()


def _all_elements(ds: Dataset) -> Iterator[DataElement]:
    yield from ds.file_meta
    yield from ds.iterall()


def test_every_header_phi_item_is_reported_with_its_attribute_and_no_box() -> None:
    built = build(rows=64, columns=64)
    entities = header_entities(read_dataset(built.data, pixels=False))
    reported = {(e.source.rsplit(" ", 1)[-1], e.text, e.type) for e in entities}
    for item in built.phi:
        assert (item.keyword, item.value, item.entity_type) in reported, item
    assert all(e.bbox is None and e.page == 0 for e in entities)
    private = [e for e in entities if e.type == "DICOM_PRIVATE"]
    assert sorted(e.source.split()[2] for e in private) == built.private_tags
    assert not any("Quinlan" in e.text or "4B-2291" in e.text for e in private)  # tag only, never the value
    # Registered UIDs (the SOP class) are not personal data.
    assert not any(e.text == "1.2.840.10008.5.1.4.1.1.2" for e in entities)


def test_dicom_entity_types_are_masked_for_roles_without_unmasked_view() -> None:
    built = build(rows=64, columns=64)
    for entity in header_entities(read_dataset(built.data, pixels=False)):
        masked = mask_value(entity.type, entity.text)
        assert masked != entity.text, entity
        if entity.type not in ("PERSON", "ADDRESS"):
            assert not any(ch.isalnum() for ch in masked[:-4]), (entity.type, masked)


def test_the_profile_table_names_real_attributes_and_resolves_compound_actions() -> None:
    table = profile()
    assert len(table) > 250
    for tag in table:
        assert keyword_for_tag(tag), f"{tag:08X}"
    assert table[0x00100010] == "Z" and table[0x0020000D] == "U" and table[0x00080080] == "X/Z/D"
    assert [resolve(a) for a in ("X/Z", "X/D", "X/Z/D", "X/Z/U*", "C", "K", "X")] == [
        "Z", "D", "Z", "U", "D", "K", "X",
    ]  # fmt: skip


def test_the_derivative_has_no_phi_anywhere_and_says_how_it_was_made() -> None:
    built = build(frames=[["A"], ["B"]], rows=96, columns=96)
    original = pydicom.dcmread(io.BytesIO(built.data))
    derivative = deidentify(built.data, {}, LIMITS)
    ds = pydicom.dcmread(io.BytesIO(derivative.data))

    for item in built.phi:
        assert item.value.encode() not in derivative.data, item
        for elem in _all_elements(ds):
            values = elem.value if elem.VM > 1 and elem.VR != "SQ" else [elem.value]
            assert all(item.value not in str(value) for value in values), (item, elem)
    assert b"Quinlan" not in derivative.data and b"4B-2291" not in derivative.data
    assert not any(elem.tag.is_private for elem in _all_elements(ds))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert ds[keyword].value != original[keyword].value
        assert ds[keyword].value.startswith("1.2.")
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == original.SOPClassUID  # registered UIDs are kept
    assert ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101"]
    assert ds.NumberOfFrames == 2 and ds.BitsStored == 12
    assert derivative.data[:128] == bytes(128)


def test_uids_are_replaced_consistently_inside_one_derivative_and_differently_across_two() -> None:
    built = build(rows=32, columns=32)
    original = pydicom.dcmread(io.BytesIO(built.data))
    first = pydicom.dcmread(io.BytesIO(deidentify(built.data, {}, LIMITS).data))
    second = pydicom.dcmread(io.BytesIO(deidentify(built.data, {}, LIMITS).data))
    assert first.StudyInstanceUID != second.StudyInstanceUID
    ref = original.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    new_ref = first.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert new_ref != ref and first.ReferencedImageSequence[0].ReferencedSOPClassUID == original.SOPClassUID


def test_text_boxes_are_filled_at_full_bit_depth_in_every_frame() -> None:
    built = build(frames=[["NAME ONE"], ["NAME TWO"]], rows=128, columns=256)
    original = pydicom.dcmread(io.BytesIO(built.data)).pixel_array
    assert original[:, 10:40, 10:200].max() == 4095  # the burned-in text is there
    boxes = {0: [(8, 8, 220, 40)], 1: [(8, 8, 220, 40)]}
    derivative = deidentify(built.data, boxes, LIMITS)
    pixels = pydicom.dcmread(io.BytesIO(derivative.data)).pixel_array
    assert pixels.dtype == np.uint16 and pixels.shape == original.shape
    for frame in range(2):
        assert pixels[frame, 8:40, 8:220].max() == original[frame].min()  # the box is one flat value
        assert np.array_equal(pixels[frame, 60:, :], original[frame, 60:, :])  # the rest is untouched
    assert derivative.masked_regions == 2


def test_a_box_as_tall_as_the_anatomy_is_not_mistaken_for_text() -> None:
    built = build(rows=128, columns=128)
    derivative = deidentify(built.data, {0: [(0, 0, 127, 127)]}, LIMITS)
    assert derivative.masked_regions == 0 and derivative.skipped_regions == 1


def test_the_watermark_is_burned_into_a_band_below_each_frame() -> None:
    built = build(rows=128, columns=256)
    derivative = deidentify(built.data, {}, LIMITS, watermark="SEALROOM EXPORT  pat  request abc")
    ds = pydicom.dcmread(io.BytesIO(derivative.data))
    assert ds.Rows > 128 and ds.Columns == 256
    band = ds.pixel_array[128:]
    assert band.max() > band.min()  # text drawn into the band
