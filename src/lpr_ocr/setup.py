from setuptools import find_packages, setup

PACKAGE = 'lpr_ocr'
_DATA = [
    ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
    ('share/' + PACKAGE, ['package.xml']),
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=_DATA,
    package_data={PACKAGE: ['weights/*.onnx', 'weights/*.yaml', 'weights/*.md']},   # the trained reader
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='lpr developers',
    maintainer_email='dev@lpr.invalid',
    description='OCR node: reads plate crops (PP-OCR through ONNX Runtime) and normalises them to region formats.',
    license='AGPL-3.0-or-later',
    entry_points={
        'console_scripts': [
            'ocr_node = lpr_ocr.node:main'
        ],
    },
)
